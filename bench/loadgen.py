"""The gateway benchmark's load generator: OpenAI chat streams over keep-alive HTTP/1.1.

    python bench/loadgen.py --url URL --model M --concurrency C --requests N [--seconds S]
                            [--warmup W] [--gaps] [--key-env VAR]
    python bench/loadgen.py --url URL --model M --hold N

Run by ``bench/serve.py`` in a process of its own, the same for every contender. ``C``
connections, all connected before the clock starts, each post ``{"model": M, "stream": true,
...}`` to ``URL`` one request after another until ``N`` requests are done or ``S`` seconds have
passed (no request starts after that), after ``W`` unmeasured ones (one on each of the first
``W`` connections). With ``--cut T``, streams still running ``T`` seconds after the start are
abandoned and counted as ``cut`` (for a gateway so slow that a cell would take minutes).
Every request is timed to its first content chunk (``ttfc``) and to the end of the body
(``total``), from just before it is written. With ``--gaps`` it also keeps the time between
content chunks as received (chunks that arrive in one read share a time). The text of each
stream (its ``delta.content`` joined) is kept by hash, so the orchestrator can check that
every contender delivered the same text. One JSON line on stdout (or in ``--out``) holds it all,
with ``sent``, the requests written (warm-up ones too), which a gateway with receipts on must
have one receipt each for (``bench/stores.py`` checks it). Every request carries ``Authorization:
Bearer`` the value of the environment variable ``--key-env`` names (a gateway key: not on the
command line), or ``sk-bench``.

``--hold N`` opens ``N`` streams, ``--batch`` at a time (the next batch once this one has its
first content chunks), prints ``{"held": k}``, waits for a line on stdin (the orchestrator
reads the gateway's memory meanwhile) and closes them all.

The client is bare asyncio streams on uvloop (when installed): it reads the status line and
headers, then de-chunks the body and splits it into SSE events by hand, so that its own cost
per chunk is a few microseconds, small against the gateway's. ``bench/serve.py`` measures it as
the ``direct`` contender's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MESSAGES = [{"role": "user", "content": "Count, please."}]


class StreamError(Exception):
    """The gateway answered with an error status or an error frame."""


@dataclass
class Timed:
    ttfc: float | None = None
    total: float = 0.0
    text: str = ""
    stamps: list[float] = field(default_factory=list)


class Connection:
    """One keep-alive HTTP/1.1 connection that streams one request at a time."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    def request_bytes(self, model: str, key: str = "sk-bench") -> bytes:
        body = json.dumps({"model": model, "messages": MESSAGES, "stream": True}).encode()
        head = (
            f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\naccept: text/event-stream\r\n"
            f"authorization: Bearer {key}\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def stream(
        self, request: bytes, *, stamps: bool, on_first: Callable[[], None] | None = None
    ) -> Timed:
        clock = time.perf_counter
        timed = Timed()
        fresh = self.reader is None
        if fresh:
            await self.open()
        reader, writer = self.reader, self.writer
        assert reader is not None and writer is not None
        started = clock()
        writer.write(request)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if fresh or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            # The server closed the idle keep-alive connection (uvicorn does after 5 s): as any
            # HTTP client, reconnect and send again; the clock restarts.
            self.close()
            return await self.stream(request, stamps=stamps, on_first=on_first)
        status_line, _, header_text = head.decode("latin-1").partition("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_text.split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        if headers.get("connection", "").lower() == "close":
            self.reader = self.writer = None  # reconnect for the next request
        if not chunked:
            data = await reader.readexactly(int(headers.get("content-length", "0")))
            raise StreamError(f"status {status}, not a chunked stream: {data[:300]!r}")
        pieces: list[str] = []
        buffer = b""
        done = False
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers: the empty line
                break
            data = await reader.readexactly(size + 2)
            now = clock()
            if status != 200:
                pieces.append(data[:-2].decode(errors="replace"))
                continue
            buffer += data[:-2]
            if b"\r" in buffer:
                buffer = buffer.replace(b"\r\n", b"\n")
            start = 0
            while True:  # every whole event in the buffer; the rest waits for more bytes
                end = buffer.find(b"\n\n", start)
                if end < 0:
                    break
                for row in buffer[start:end].split(b"\n"):
                    if not row.startswith(b"data:"):
                        continue
                    payload = row[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        continue
                    frame = json.loads(payload)
                    if "error" in frame:
                        raise StreamError(f"error frame: {str(frame['error'])[:300]}")
                    choices = frame.get("choices")
                    content = choices[0].get("delta", {}).get("content") if choices else None
                    if content:
                        if timed.ttfc is None:
                            timed.ttfc = now - started
                            if on_first is not None:
                                on_first()
                        pieces.append(content)
                        if stamps:
                            timed.stamps.append(now)
                start = end + 2
            buffer = buffer[start:]
        timed.total = clock() - started
        if status != 200:
            raise StreamError(f"status {status}: {''.join(pieces)[:300]}")
        if not done:
            raise StreamError("the stream ended without [DONE]")
        timed.text = "".join(pieces)
        return timed


def _key(args: argparse.Namespace) -> str:
    return os.environ[args.key_env] if args.key_env else "sk-bench"


def _digest(text: str) -> str:
    return f"{len(text)}:{hashlib.sha1(text.encode()).hexdigest()[:12]}"


async def load(args: argparse.Namespace) -> dict[str, Any]:
    split = urlsplit(args.url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    connections = [Connection(host, port, split.path) for _ in range(args.concurrency)]
    request = connections[0].request_bytes(args.model, _key(args))
    sent = 0
    ttfcs: list[float] = []
    totals: list[float] = []
    gaps: list[float] = []
    texts: Counter[str] = Counter()
    errors: list[str] = []
    remaining = args.requests

    async def warm(connection: Connection, streams: int) -> None:
        nonlocal sent
        await connection.open()
        for _ in range(streams):
            sent += 1
            await connection.stream(request, stamps=False)

    async def worker(connection: Connection) -> None:
        nonlocal remaining, sent
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            sent += 1
            try:
                timed = await connection.stream(request, stamps=args.gaps)
            except (StreamError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:400])
                connection.close()
                continue
            totals.append(timed.total)
            if timed.ttfc is not None:
                ttfcs.append(timed.ttfc)
            texts[_digest(timed.text)] += 1
            gaps.extend(b - a for a, b in zip(timed.stamps, timed.stamps[1:], strict=False))

    warmed = await asyncio.gather(
        *(warm(c, 1 if i < args.warmup else 0) for i, c in enumerate(connections)),
        return_exceptions=True,
    )
    for result in warmed:
        if isinstance(result, BaseException):
            errors.append(f"warm-up: {type(result).__name__}: {result}"[:400])
    started = time.perf_counter()  # every connection is open and warm
    deadline = started + (args.seconds or float("inf"))
    workers = [asyncio.ensure_future(worker(c)) for c in connections]
    _, pending = await asyncio.wait(workers, timeout=args.cut or None)
    for task in pending:  # each was in the middle of a stream: abandoned, counted as cut
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wall = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return {
        "wall": wall,
        "sent": sent,
        "cut": len(pending),
        "ttfc": ttfcs,
        "total": totals,
        "gaps": gaps,
        "texts": dict(texts),
        "errors": errors[:20],
        "failed": len(errors),
    }


async def hold(args: argparse.Namespace) -> dict[str, Any]:
    split = urlsplit(args.url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    connections = [Connection(host, port, split.path) for _ in range(args.hold)]
    request = connections[0].request_bytes(args.model, _key(args))
    tasks: list[asyncio.Future[None]] = []
    settled = [asyncio.Event() for _ in connections]  # first content chunk, or the end
    got_first: set[int] = set()
    errors: list[str] = []

    async def one(index: int) -> None:
        def first() -> None:
            got_first.add(index)
            settled[index].set()

        try:
            await connections[index].stream(request, stamps=False, on_first=first)
        except (StreamError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:400])
        finally:
            got_first.discard(index)
            settled[index].set()

    deadline = time.monotonic() + args.timeout
    for start in range(0, len(connections), args.batch):  # a ramp, not a thundering herd
        batch = range(start, min(len(connections), start + args.batch))
        for index in batch:
            tasks.append(asyncio.ensure_future(one(index)))
        try:
            waits = asyncio.gather(*(settled[i].wait() for i in batch))
            await asyncio.wait_for(waits, max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            errors.append(f"not every stream had its first chunk within {args.timeout} s")
            break
    held = len(got_first)
    print(json.dumps({"held": held, "errors": errors[:20], "failed": len(errors)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for connection in connections:
        if connection.writer is not None:
            connection.writer.transport.abort()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"held": held}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=0, help="start no request after this")
    parser.add_argument("--cut", type=float, default=0, help="abandon streams still open then")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--gaps", action="store_true")
    parser.add_argument("--out", help="write the JSON result to this file, not stdout")
    parser.add_argument("--hold", type=int, default=0)
    parser.add_argument("--batch", type=int, default=100, help="--hold opens this many at once")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--key-env", help="the environment variable holding the bearer key")
    args = parser.parse_args()
    run: Callable[[Coroutine[Any, Any, Any]], Any] = asyncio.run
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        pass
    if args.hold:
        run(hold(args))
    else:
        result = json.dumps(run(load(args)))
        if args.out:  # a file: stdout may be left non-blocking by the loop, and this is large
            Path(args.out).write_text(result)
        else:
            print(result, flush=True)


if __name__ == "__main__":
    main()
