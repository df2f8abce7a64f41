"""What every benchmark runner shares (standard library only: runners run in other venvs).

A runner is a script run by some Python interpreter (the project's venv, or a peer's venv
under ``bench/.envs``). It is told a contender, a provider, the stream's root URL and how many
streams to time; it times them one after another, after one warm-up stream, and prints one
JSON object: the per-stream figures, its peak RSS and any errors.

Figures per stream: ``total`` (seconds from the call to the end of the stream), ``ttfc``
(seconds to the first content chunk), ``chunks`` (content chunks seen) and ``text`` (the
length and a hash of the concatenated text, so the orchestrator can check that every
contender received exactly the same text).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Self

MODELS = {
    "openai": "gpt-bench",
    "openai-responses": "gpt-bench",
    "anthropic": "claude-bench",
    "google": "gemini-bench",
    "ollama": "llama-bench",
}

Stream = Callable[[str, str, str], AsyncIterator[str]]  # (provider, root, model) -> text deltas


def sdk_base_url(provider: str, root: str) -> str:
    """What each SDK takes as its base URL, given the server's root for one stream."""
    return root + "/v1" if provider in ("openai", "openai-responses") else root


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contender", required=True)
    parser.add_argument("--provider", required=True)
    parser.add_argument("--root", required=True, help="http://127.0.0.1:PORT/s/openai-2000")
    parser.add_argument("--streams", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="run this many streams at once per timed round"
    )
    return parser.parse_args()


def peak_rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


async def time_one(stream: Stream, provider: str, root: str) -> dict[str, Any]:
    started = time.perf_counter()
    first = None
    chunks = 0
    digest = hashlib.sha256()
    length = 0
    async for delta in stream(provider, root, MODELS[provider]):
        if not delta:
            continue
        if first is None:
            first = time.perf_counter() - started
        chunks += 1
        length += len(delta)
        digest.update(delta.encode())
    return {
        "total": time.perf_counter() - started,
        "ttfc": first,
        "chunks": chunks,
        "text": f"{length}:{digest.hexdigest()[:16]}",
    }


async def run(
    contenders: dict[str, Stream],
    setup: Callable[[], Awaitable[None]] | None = None,
    teardown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Time the contender named on the command line; print one JSON object on stdout."""
    args = parse_args()
    stream = contenders[args.contender]
    result: dict[str, Any] = {
        "contender": args.contender,
        "provider": args.provider,
        "streams": [],
        "errors": [],
    }
    try:
        if setup:
            await setup()
        for _ in range(args.warmup):
            await time_one(stream, args.provider, args.root)
        for _ in range(args.streams):
            if args.concurrency == 1:
                result["streams"].append(await time_one(stream, args.provider, args.root))
                continue
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(time_one(stream, args.provider, args.root) for _ in range(args.concurrency)),
                return_exceptions=True,
            )
            wall = time.perf_counter() - started
            ok = [o for o in outcomes if isinstance(o, dict)]
            result["errors"] += [repr(o) for o in outcomes if not isinstance(o, dict)][:5]
            result["streams"].append(
                {
                    "wall": wall,
                    "ok": len(ok),
                    "failed": len(outcomes) - len(ok),
                    "chunks": sum(o["chunks"] for o in ok),
                }
            )
        if teardown:
            await teardown()
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the orchestrator prints it
        result["errors"].append(f"{exc!r}\n{traceback.format_exc(limit=3)}")
    result["peak_rss_kb"] = peak_rss_kb()
    sys.stdout.write(json.dumps(result) + "\n")


class Stall:
    """A deadline that fires when a stream has made no progress for ``seconds``.

    Used inline (``watch.chunks += 1`` per chunk, nothing else per chunk): a timer checks the
    count every ``seconds`` and, if it has not moved, cancels the stream with ``TimeoutError``.
    ``note()`` adds the runner's own diagnosis to the message.
    """

    def __init__(self, seconds: float, note: Callable[[], str] = lambda: "") -> None:
        self.seconds = seconds
        self.chunks = 0
        self._note = note
        self._seen = 0
        self._timeout = asyncio.timeout(None)

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        await self._timeout.__aenter__()
        self._handle = self._loop.call_later(self.seconds, self._check)
        return self

    def _check(self) -> None:
        if self.chunks == self._seen:
            self._timeout.reschedule(self._loop.time())
            return
        self._seen = self.chunks
        self._handle = self._loop.call_later(self.seconds, self._check)

    async def __aexit__(self, *exc: object) -> None:
        self._handle.cancel()
        try:
            await self._timeout.__aexit__(*exc)  # type: ignore[arg-type]
        except TimeoutError:
            raise TimeoutError(
                f"stream stalled: nothing for {self.seconds:.0f} s after "
                f"{self.chunks} chunks{self._note()}"
            ) from None


def start_watchdog(
    seconds: float, label: str, stdout: Any = sys.stdout, cleanup: Callable[[], None] = lambda: None
) -> None:
    """Print a failed result and leave if the run is still going after ``seconds``."""
    args = parse_args()

    def bail() -> None:
        result = {
            "contender": args.contender,
            "provider": args.provider,
            "streams": [],
            "errors": [f"{label} runner timed out after {seconds:.0f} s"],
            "peak_rss_kb": peak_rss_kb(),
        }
        stdout.write(json.dumps(result) + "\n")
        stdout.flush()
        cleanup()
        os._exit(0)

    timer = threading.Timer(seconds, bail)
    timer.daemon = True
    timer.start()
