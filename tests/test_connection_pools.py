"""Many concurrent streams to one provider: each gets its own connection at once.

A gateway keeps one provider client per endpoint, and streams through it as many requests as
it serves. An HTTP client pool with a connection cap (httpx's default is 100) would make the
101st stream wait, with no deadline but the stream's own, for another stream to end. Every
adapter's pool is therefore uncapped: the caller (``llmring serve --max-streams``) bounds
concurrency. Here 120 streams are opened against a loopback server that holds each one open
after its first chunk: all 120 must reach the server while all are still open.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmring import LLMRing
from tests.loopback import LoopbackServer, Reply
from tests.wire_harness import PROVIDERS, lockfile_text, set_fake_key, user_request

STREAMS = 120  # above httpx's default cap of 100 connections
#: provider → (a recording that streams text, its path on the server)
RECORDINGS = {
    "openai": ("openai/chat-gpt-4o-mini-text-usage.sse", "/v1/chat/completions"),
    "openai-responses": ("openai/responses-gpt-5.5-text-after-tool.sse", "/v1/responses"),
    "anthropic": ("anthropic/claude-haiku-4-5-stop-sequence.sse", "/v1/messages"),
    "google": ("gemini/gemini-2.5-pro-text.sse", "/"),
    "ollama": ("ollama/cloud-gpt-oss-120b-thinking.ndjson", "/api/chat"),
}


#: every adapter on its default transport (aiohttp for the openai and anthropic SDKs, which is
#: installed here), and those two SDKs on httpx2's own too (llmring.providers._stainless)
CASES = [
    *[(provider, "default") for provider in sorted(RECORDINGS)],
    *[(provider, "httpx2") for provider in ("anthropic", "openai", "openai-responses")],
]


@pytest.mark.parametrize(("provider", "transport"), CASES)
async def test_streams_beyond_a_hundred_are_not_queued(
    provider: str, transport: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmring.providers import _stainless

    monkeypatch.setattr(_stainless, "AIOHTTP", transport != "httpx2")
    recording, _ = RECORDINGS[provider]
    set_fake_key(provider, monkeypatch)
    reply = Reply.wire(recording)
    held = Reply.wire(recording, stall_after=len(reply.body) // 2)  # never ends
    async with LoopbackServer(held) as server:
        path = project / "llmring.lock"
        path.write_text(lockfile_text({provider: server.base_url + PROVIDERS[provider][2]}))
        async with LLMRing(path) as ring:
            first_chunks = 0
            all_open = asyncio.Event()

            async def one() -> None:
                nonlocal first_chunks
                async with ring.chat_stream(user_request(f"{provider}:m")) as stream:
                    await stream.__anext__()
                    first_chunks += 1
                    if first_chunks == STREAMS:
                        all_open.set()
                    await all_open.wait()

            tasks = [asyncio.create_task(one()) for _ in range(STREAMS)]
            try:
                await asyncio.wait_for(all_open.wait(), 20)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    assert first_chunks == STREAMS
    assert server.connections == STREAMS


async def test_the_stainless_sdks_run_on_aiohttp_when_it_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The openai and anthropic adapters give their SDK its own aiohttp transport when aiohttp
    # is importable (llmring[serve] installs it), and httpx2's own otherwise (a plain
    # ``llmring[openai]``); the fault contract runs on both.
    import importlib.util

    import anthropic
    import httpx2
    import openai

    from llmring.providers import _stainless

    real_find_spec = importlib.util.find_spec
    for sdk in (openai, anthropic):
        on_aiohttp = _stainless.http_client(sdk)
        assert isinstance(on_aiohttp, sdk.DefaultAioHttpClient), type(on_aiohttp)
        with monkeypatch.context() as patch:
            patch.setattr(
                importlib.util,
                "find_spec",
                lambda name, *rest: None if name == "aiohttp" else real_find_spec(name, *rest),
            )
            without = _stainless.http_client(sdk)
        assert type(without) is httpx2.AsyncClient
        for client in (on_aiohttp, without):
            await client.aclose()
