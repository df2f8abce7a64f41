"""Fallback across real adapters: OpenAI answers 429, Anthropic serves the stream; a missing
key is skipped, a rejected one raises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmring import LLMRing
from llmring.exceptions import (
    ProviderAuthenticationError,
    ProviderRateLimitError,
    StreamInterruptedError,
)
from llmring.providers.mock import ledger
from tests.loopback import LoopbackServer, Reply
from tests.wire_harness import lockfile_text, run_stream, set_fake_key, user_request

ANTHROPIC_TEXT = "anthropic/claude-sonnet-4-6-text.sse"
RATE_LIMITED = Reply.error(
    429,
    {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
    {"retry-after": "3"},
)


def _openai_chunk(content: str) -> bytes:
    data = {
        "object": "chat.completion.chunk",
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


async def _ring(server: LoopbackServer, project: Path, monkeypatch: pytest.MonkeyPatch) -> LLMRing:
    set_fake_key("openai", monkeypatch)
    set_fake_key("anthropic", monkeypatch)
    path = project / "llmring.lock"
    path.write_text(
        lockfile_text(
            {"openai": f"{server.base_url}/v1", "anthropic": server.base_url},
            {"chatbot": ["openai:gpt-test", "anthropic:claude-test"]},
        ),
        encoding="utf-8",
    )
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
        {"model": "openai:gpt-test", "error": "Rate limit reached"}
    ]
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/messages"]


async def test_rate_limit_after_content_does_not_fall_back(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        _openai_chunk("Partial")
        + _openai_chunk(" answer")
        + b'data: {"error": {"message": "Rate limit reached mid-stream", "code": 429}}\n\n'
    )
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


# -- keys: a missing one is skipped, a rejected one raises -------------------------------------

REJECTED_KEY = Reply.error(
    401,
    {
        "error": {
            "message": "Incorrect API key provided",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    },
)


def _openai_then_mock(server: LoopbackServer, project: Path) -> LLMRing:
    path = project / "llmring.lock"
    path.write_text(
        lockfile_text(
            {"openai": f"{server.base_url}/v1"}, {"chatbot": ["openai:gpt-test", "mock:chatbot"]}
        ),
        encoding="utf-8",
    )
    return LLMRing(path)


@pytest.mark.parametrize("status", [401, 403])
async def test_a_rejected_key_raises_instead_of_falling_back(
    status: int, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_fake_key("openai", monkeypatch)
    async with LoopbackServer() as server:
        server.routes["/v1/chat/completions"] = Reply.error(
            status, {"error": {"message": "Incorrect API key provided"}}
        )
        async with _openai_then_mock(server, project) as ring:
            outcome = await run_stream(ring, user_request("chatbot"))
    error = outcome.error
    assert isinstance(error, ProviderAuthenticationError), error
    assert (error.provider, error.model, error.status_code) == ("openai", "gpt-test", status)
    assert not error.retryable and error.attempts == []
    assert outcome.chunks == [] and ledger.records == []  # the mock was never asked
    assert [r.path for r in server.requests] == ["/v1/chat/completions"]


async def test_a_missing_key_falls_back(project: Path) -> None:
    async with LoopbackServer() as server:
        server.routes["/v1/chat/completions"] = REJECTED_KEY
        async with _openai_then_mock(server, project) as ring:  # OPENAI_API_KEY is not set
            outcome = await run_stream(ring, user_request("chatbot"))
    outcome.check_contract()
    assert outcome.terminal.provider == "mock" and outcome.text
    assert outcome.terminal.metadata["failed_attempts"] == [
        {"model": "openai:gpt-test", "error": "OPENAI_API_KEY is not set"}
    ]
    assert server.requests == []  # a key that is not set is never sent
