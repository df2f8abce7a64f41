"""Runner for the published ``llmring`` 1.4.0 (PyPI), run by its peer venv's python.

Contender ``llmring140``: ``LLMRing.chat_stream(LLMRequest(...))`` as 1.4.0 documents it, each
provider pointed at the loopback server:

* openai, anthropic, ollama: ``LLMRing.register_provider(name, api_key=..., base_url=...)``
  (1.4.0's public way to configure a provider; it passes ``base_url`` to the SDK client).
* google: 1.4.0's ``GoogleProvider`` takes ``base_url`` but never gives it to
  ``genai.Client``; the only way to reach the server is google-genai's own environment
  variable ``GOOGLE_GEMINI_BASE_URL``, set before the client is made.

Kept off the network: 1.4.0 looks models up in its registry (GitHub Pages) on every request
and caches it under ``~/.cache/llmring``. The runner gives it a ``file://`` registry of its own
that lists the bench models (so the lookup is the warm, in-memory one a real application sees
after its first request), and points ``HOME`` at a temporary folder so neither the user's cache
is read or written. The registry models carry no ``max_input_tokens``, so 1.4.0 skips its
context check, which would otherwise ask tiktoken for an encoding (a download). An explicit
lockfile, made with 1.4.0's own ``Lockfile.create_default()``, keeps it from reading the
project's ``llmring.lock`` in the working directory.

No hang: every request carries 1.4.0's own timeout (``LLMRING_PROVIDER_TIMEOUT_S``, 30 s here
unless set); a stream that yields nothing for ``BENCH_STALL_TIMEOUT_S`` (default 30 s) ends with
``TimeoutError``, reported in ``errors``; a watchdog thread prints the JSON with an error and
exits if the whole run takes longer than ``BENCH_RUNNER_TIMEOUT_S`` (default 1800 s).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import MODELS, Stall, parse_args, run, sdk_base_url, start_watchdog

KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GEMINI_API_KEY"}
MESSAGES = [{"role": "user", "content": "Count, please."}]
STDOUT = sys.stdout  # the orchestrator reads this; libraries print to a stand-in
ENDPOINTS = {"openai": "chat", "google": "generateContent"}

STALL_TIMEOUT = float(os.environ.get("BENCH_STALL_TIMEOUT_S", "30"))
SCRATCH = Path(tempfile.mkdtemp(prefix="llmring140-bench-"))
state: dict[str, Any] = {}
loop_errors: dict[str, int] = {}


def _isolate(provider: str, root: str) -> None:
    """Environment for 1.4.0, set before it is imported (its cache folder is read at import)."""
    home = SCRATCH / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)
    os.environ.setdefault("LLMRING_PROVIDER_TIMEOUT_S", "30")
    for name in (
        "LLMRING_SERVER_URL",
        "LLMRING_API_KEY",
        "LLMRING_PREFER_SAAS",
        "LLMRING_LOCKFILE_PATH",
    ):
        os.environ.pop(name, None)
    for name in KEYS.values():  # only the provider under test gets a key
        os.environ.pop(name, None)
    if provider in KEYS:
        os.environ[KEYS[provider]] = "bench-key-0123456789"
    if provider == "google":
        os.environ["GOOGLE_GEMINI_BASE_URL"] = sdk_base_url(provider, root)
    registry = SCRATCH / "registry" / provider
    registry.mkdir(parents=True)
    model = {
        "provider": provider,
        "model_name": MODELS[provider],
        "display_name": "bench",
        "supports_streaming": True,
        "supports_temperature": True,
        "is_active": True,
        "dollars_per_million_tokens_input": 0.0,
        "dollars_per_million_tokens_output": 0.0,
    }
    if provider in ENDPOINTS:
        model["api_endpoint"] = ENDPOINTS[provider]
    (registry / "models.json").write_text(
        json.dumps(
            {
                "provider": provider,
                "version": 1,
                "updated_at": "2025-01-01T00:00:00Z",
                "models": {f"{provider}:{MODELS[provider]}": model},
            }
        )
    )


def _ring(provider: str, root: str) -> Any:
    from llmring import LLMRing, lockfile_core

    lockfile = SCRATCH / "llmring.lock"
    lockfile_core.Lockfile.create_default().save(lockfile)
    ring = LLMRing(
        registry_url=(SCRATCH / "registry").as_uri(),
        lockfile_path=str(lockfile),
        log_metadata=False,
        log_conversations=False,
    )
    if provider != "google":  # see the module's docstring
        key = os.environ[KEYS[provider]] if provider in KEYS else None
        ring.register_provider(provider, api_key=key, base_url=sdk_base_url(provider, root))
    return ring


async def llmring140(provider: str, root: str, model: str) -> AsyncIterator[str]:
    from llmring import LLMRequest, Message

    ring = state.get("ring")
    if ring is None:
        ring = state["ring"] = _ring(provider, root)
    request = LLMRequest(
        model=f"{provider}:{model}", messages=[Message(**message) for message in MESSAGES]
    )
    # 1.4.0's Google stream can wait forever for a chunk it dropped (its own timeout does not
    # cover that wait): the stall deadline turns that into an error.
    async with Stall(STALL_TIMEOUT, stall_note) as watch:
        async for chunk in ring.chat_stream(request):
            watch.chunks += 1
            if chunk.delta:
                yield chunk.delta


def _count_loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Count the event loop's callback errors by type (logging them too, once per type)."""
    name = type(context.get("exception")).__name__
    loop_errors[name] = loop_errors.get(name, 0) + 1
    if loop_errors[name] == 1:
        loop.default_exception_handler(context)


def stall_note() -> str:
    if not loop_errors:
        return ""
    counts = ", ".join(f"{count} {name}" for name, count in loop_errors.items())
    return f"; meanwhile the event loop's callbacks raised {counts}" + (
        " (1.4.0's Google provider hands chunks from its reader thread to a "
        "Queue(maxsize=100) with put_nowait: chunks past 100 ahead of the reader, and "
        "the end-of-stream marker, are dropped)"
        if "QueueFull" in loop_errors
        else ""
    )


async def setup() -> None:
    asyncio.get_running_loop().set_exception_handler(_count_loop_errors)


async def teardown() -> None:
    ring = state.get("ring")
    close = getattr(ring, "close", None) or getattr(ring, "aclose", None)
    if close is not None:
        result = close()
        if hasattr(result, "__await__"):
            await result


def json_only_on_stdout(main: Any) -> None:
    """Run ``main()`` with stdout caught; pass on only the result's JSON line, the rest to stderr.

    Libraries print (LiteLLM's debug banners, for one): the orchestrator reads one JSON object.
    """
    caught = io.StringIO()
    sys.stdout = caught
    try:
        main()
    finally:
        sys.stdout = STDOUT
        text = caught.getvalue()
        start = text.rfind('{"contender"')
        noise, result = (text[:start], text[start:]) if start >= 0 else (text, "")
        if noise.strip():
            sys.stderr.write(noise if noise.endswith("\n") else noise + "\n")
        STDOUT.write(result)
        STDOUT.flush()


if __name__ == "__main__":
    args = parse_args()
    start_watchdog(
        float(os.environ.get("BENCH_RUNNER_TIMEOUT_S", "1800")),
        "llmring140",
        STDOUT,
        lambda: shutil.rmtree(SCRATCH, ignore_errors=True),
    )
    _isolate(args.provider, args.root)
    try:
        json_only_on_stdout(
            lambda: asyncio.run(run({"llmring140": llmring140}, setup=setup, teardown=teardown))
        )
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)
