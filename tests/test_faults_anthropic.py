"""The fault contract (tests/fault_contract.py) for the ``anthropic`` adapter, plus the
Anthropic-specific shape of an in-band error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmring.exceptions import (
    ModelNotFoundError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    StreamInterruptedError,
)
from tests.fault_contract import FaultContract
from tests.loopback import Reply
from tests.wire_harness import provider_ring, run_stream

#: the ``error.type`` Anthropic sends with each status (its errors page)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _opening(*texts: str) -> bytes:
    """message_start, a text block and its deltas: the head of a real text stream."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 9, "output_tokens": 1},
        },
    }
    body = _event(start)
    body += _event(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    for text in texts:
        body += _event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            }
        )
    return body


# The real shape (anthropics/anthropic-sdk-go#200, anthropic-sdk-typescript#346; padded before
# the last brace as Anthropic pads): after it the connection closes, with no message_stop.
OVERLOADED = (
    b'event: error\ndata: {"type":"error","error":{"details":null,'
    b'"type":"overloaded_error","message":"Overloaded"}      }\n\n'
)


class TestAnthropicFaults(FaultContract):
    provider = "anthropic"
    text_wire = "anthropic/claude-sonnet-4-6-text.sse"
    expected_text = "**Pete** or **Scoop**"
    inband_error_body = _opening("Hello", " there") + OVERLOADED
    inband_partial = "Hello there"
    inband_message = "Overloaded"
    malformed_body = (
        _opening("Hi") + b'event: content_block_delta\ndata: {"type":'
        b'"content_block_delta","index":0,"delta":{"type":"text_delta","text":\n\n'
    )
    malformed_partial = "Hi"

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": ERROR_TYPES[status], "message": message}}


async def test_overloaded_event_is_retryable_and_named(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = Reply(_opening("Hello") + OVERLOADED, headers={"content-type": "text/event-stream"})
    async with provider_ring("anthropic", reply, project, monkeypatch) as (ring, _):
        outcome = await run_stream(ring, TestAnthropicFaults().request())
    error = outcome.error
    assert isinstance(error, StreamInterruptedError) and error.partial_response == "Hello"
    cause = error.__cause__
    assert isinstance(cause, ProviderResponseError)
    assert cause.retryable and cause.status_code == 529
    assert "Overloaded (overloaded_error)" in str(cause)
    assert error.usage == {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}


async def test_overloaded_before_any_content_falls_back(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an in-band overloaded_error before any text is a retryable failure: the alias's next
    # model (here the offline mock) answers, and the failed attempt is on record
    reply = Reply(_opening() + OVERLOADED, headers={"content-type": "text/event-stream"})
    bindings = {"chatbot": ["anthropic:test-model", "mock:echo"]}
    request = TestAnthropicFaults().request().model_copy(update={"model": "chatbot"})
    async with (
        provider_ring("anthropic", reply, project, monkeypatch, bindings) as (ring, server),
        ring.chat_stream(request) as stream,
    ):
        chunks = [chunk async for chunk in stream]
    assert len(server.requests) == 1
    assert "".join(c.delta for c in chunks) == "hello"
    assert chunks[-1].provider == "mock"
    [(ref, failure)] = stream.failed_attempts
    assert ref == "anthropic:test-model" and failure.status_code == 529


async def test_http_error_message_is_the_apis_sentence(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the SDK's own message is "Error code: 400 - {...the whole body...}"; users read the API's
    payload = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: must be at least 1"},
        "request_id": "req_011",
    }
    async with provider_ring("anthropic", Reply.error(400, payload), project, monkeypatch) as (
        ring,
        _,
    ):
        outcome = await run_stream(ring, TestAnthropicFaults().request())
    assert isinstance(outcome.error, ProviderResponseError) and not outcome.error.retryable
    assert str(outcome.error) == (
        "anthropic:test-model: max_tokens: must be at least 1 (invalid_request_error) (HTTP 400)"
    )


@pytest.mark.parametrize(
    ("kind", "error_class", "status", "retryable"),
    [
        ("invalid_request_error", ProviderResponseError, 400, False),
        ("not_found_error", ModelNotFoundError, 404, True),
        ("rate_limit_error", ProviderRateLimitError, 429, True),
        ("api_error", ProviderResponseError, 500, True),
        ("overloaded_error", ProviderResponseError, 529, True),
    ],
)
async def test_inband_error_types_take_their_status(
    kind: str,
    error_class: type[ProviderError],
    status: int,
    retryable: bool,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # an in-band error names its type, not a status: a request error must not be retried
    # (or fall back) like an outage
    body = _opening() + _event({"type": "error", "error": {"type": kind, "message": "Nope"}})
    reply = Reply(body, headers={"content-type": "text/event-stream"})
    async with provider_ring("anthropic", reply, project, monkeypatch) as (ring, _):
        outcome = await run_stream(ring, TestAnthropicFaults().request())
    error = outcome.error
    assert type(error) is error_class, error
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.retryable) == (status, retryable)
    assert f"in-stream error: Nope ({kind})" in str(error) and outcome.chunks == []


class TestAnthropicFaultsOnHttpx2(TestAnthropicFaults):
    """The same contract with the anthropic SDK on httpx2's own transport (no aiohttp)."""

    transport = "httpx2"
