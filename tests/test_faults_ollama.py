"""The fault contract (tests/fault_contract.py) for the ``ollama`` adapter, plus the faults
that only NDJSON has: a body that ends cleanly without the ``done: true`` line, or in the
middle of a line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmring.exceptions import (
    ProviderAuthenticationError,
    ProviderResponseError,
    StreamInterruptedError,
)
from tests.fault_contract import FaultContract
from tests.loopback import Reply
from tests.wire_harness import provider_ring, run_stream

FAKE_OLLAMA_KEY = "ollama-cloud-test-key-0123456789abcdef"


def _line(content: str, **fields: Any) -> bytes:
    data = {
        "model": "test-model",
        "created_at": "2025-08-20T13:48:23.241046Z",
        "message": {"role": "assistant", "content": content},
        "done": False,
        **fields,
    }
    return json.dumps(data).encode() + b"\n"


class TestOllamaFaults(FaultContract):
    provider = "ollama"
    content_type = "application/x-ndjson"
    text_wire = "ollama/gemma3-1b-text-chunked.ndjson"
    expected_text = "Okay, here we go!\n\n1, 2, 3, 4, 5\n"
    # Ollama reports a failure during generation as an {"error": ...} line, then ends the body.
    inband_error_body = (
        _line("Hello")
        + _line(" there")
        + b'{"error":"an error was encountered while running the model: unexpected EOF"}\n'
    )
    inband_partial = "Hello there"
    inband_message = "an error was encountered while running the model: unexpected EOF"
    malformed_body = _line("Hi") + b'{"model":"test-model","message":{"role":"assistant",\n'
    malformed_partial = "Hi"

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}

    async def test_optional_key_is_sent_as_bearer_and_scrubbed(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Ollama's one credential is OLLAMA_API_KEY (ollama.com), sent by the SDK as a bearer
        # token: check it is sent, and that an echo of it never reaches the error.
        reply = Reply.error(401, self.error_payload(401, f"invalid API key: {FAKE_OLLAMA_KEY}"))
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, server):
            monkeypatch.setenv("OLLAMA_API_KEY", FAKE_OLLAMA_KEY)  # read when the client is made
            outcome = await run_stream(ring, self.request())
        assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_OLLAMA_KEY}"
        assert isinstance(outcome.error, ProviderAuthenticationError)
        assert "invalid API key" in str(outcome.error)
        assert FAKE_OLLAMA_KEY not in str(outcome.error)
        assert FAKE_OLLAMA_KEY not in repr(outcome.error.args)

    async def test_clean_end_without_the_done_line(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Every line arrives and the HTTP body ends properly, but no done:true line: a cut.
        reply = self.stream_reply(_line("Hello") + _line(" there"))
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, _):
            outcome = await run_stream(ring, self.request())
        error = outcome.error
        assert isinstance(error, StreamInterruptedError), error
        assert error.partial_response == "Hello there" == outcome.text
        assert isinstance(error.__cause__, ProviderResponseError)
        assert "end-of-stream marker" in str(error.__cause__)
        assert all(not c.is_terminal for c in outcome.chunks)

    async def test_clean_end_in_the_middle_of_a_line(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        done = _line("", done=True, done_reason="stop", eval_count=2)
        reply = self.stream_reply(_line("Hello") + done[: len(done) // 2])
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, _):
            outcome = await run_stream(ring, self.request())
        error = outcome.error
        assert isinstance(error, StreamInterruptedError), error
        assert error.partial_response == "Hello"
        assert isinstance(error.__cause__, ProviderResponseError)
        assert "ended in the middle of a line" in str(error.__cause__)

    async def test_inband_error_before_any_content_can_fall_back(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reply = self.stream_reply(b'{"error":"model runner has unexpectedly stopped"}\n')
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, _):
            outcome = await run_stream(ring, self.request())
        error = outcome.error
        assert type(error) is ProviderResponseError, error
        assert error.status_code is None and error.retryable  # a server-side failure
        assert "model runner has unexpectedly stopped" in str(error)
        assert (error.provider, error.model) == ("ollama", "test-model")

    async def test_a_line_that_is_not_an_object(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reply = self.stream_reply(_line("Hi") + b'["not", "an", "object"]\n')
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, _):
            outcome = await run_stream(ring, self.request())
        error = outcome.error
        assert isinstance(error, StreamInterruptedError) and error.partial_response == "Hi"
        assert isinstance(error.__cause__, ProviderResponseError)
        assert "unexpected stream data" in str(error.__cause__)
