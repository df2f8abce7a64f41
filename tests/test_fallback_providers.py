"""Fallback across real adapters: OpenAI answers 429, Anthropic serves the stream."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmring import LLMRing
from llmring.exceptions import ProviderRateLimitError, StreamInterruptedError
from tests.loopback import LoopbackServer, Reply
from tests.wire_harness import lockfile_text, run_stream, set_fake_key, user_request

ANTHROPIC_TEXT = "anthropic/claude-sonnet-4-6-text.sse"
RATE_LIMITED = Reply.error(429, {"error": {"message": "Rate limit reached", "type": "requests",
                                           "code": "rate_limit_exceeded"}}, {"retry-after": "3"})


def _openai_chunk(content: str) -> bytes:
    data = {"object": "chat.completion.chunk", "model": "gpt-test",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return b"data: " + json.dumps(data).encode() + b"\n\n"


async def _ring(server: LoopbackServer, project: Path, monkeypatch: pytest.MonkeyPatch) -> LLMRing:
    set_fake_key("openai", monkeypatch)
    set_fake_key("anthropic", monkeypatch)
    path = project / "llmring.lock"
    path.write_text(lockfile_text(
        {"openai": f"{server.base_url}/v1", "anthropic": server.base_url},
        {"chatbot": ["openai:gpt-test", "anthropic:claude-test"]}), encoding="utf-8")
    return LLMRing(path)


async def test_rate_limited_primary_falls_back_to_anthropic(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with LoopbackServer() as server:
        server.routes["/v1/chat/completions"] = RATE_LIMITED
        server.routes["/v1/messages"] = Reply.wire(ANTHROPIC_TEXT)
        async with await _ring(server, project, monkeypatch) as ring:
            outcome = await run_stream(ring, user_request("chatbot"))
    outcome.check_contract()
    terminal = outcome.terminal
    assert terminal.provider == "anthropic"
    assert terminal.model == "claude-sonnet-4-6"  # the model the recorded stream reports
    assert outcome.text  # the recorded Anthropic text streamed through
    assert terminal.metadata["failed_attempts"] == [
        {"model": "openai:gpt-test", "error": "Rate limit reached"}]
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/messages"]


async def test_rate_limit_after_content_does_not_fall_back(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (_openai_chunk("Partial") + _openai_chunk(" answer")
            + b'data: {"error": {"message": "Rate limit reached mid-stream", "code": 429}}\n\n')
    async with LoopbackServer() as server:
        server.routes["/v1/chat/completions"] = Reply(body)
        server.routes["/v1/messages"] = Reply.wire(ANTHROPIC_TEXT)
        async with await _ring(server, project, monkeypatch) as ring:
            outcome = await run_stream(ring, user_request("chatbot"))
    error = outcome.error
    assert isinstance(error, StreamInterruptedError)
    assert error.partial_response == "Partial answer"
    assert isinstance(error.__cause__, ProviderRateLimitError)
    assert [r.path for r in server.requests] == ["/v1/chat/completions"]  # no silent switch
