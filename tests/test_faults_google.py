"""The fault contract (tests/fault_contract.py) for the ``google`` adapter.

The recordings hold no Gemini in-band error, so the in-band case is constructed in the shape
Gemini uses for every error (``{"error": {"code", "message", "status"}}``), sent as an SSE
event after two text chunks of a 200 stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from llmring.providers.base import ModelReport
from llmring.providers.google import _adapter as google_adapter
from llmring.providers.google._adapter import open_stream
from tests.fault_contract import FaultContract
from tests.loopback import WIRE, Reply
from tests.wire_harness import provider_ring, user_request

#: HTTP status → google.rpc status name, as the Gemini API reports them
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    529: "UNAVAILABLE",
}


def _chunk(text: str) -> bytes:
    data = {
        "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
        "modelVersion": "test-model",
    }
    return b"data: " + json.dumps(data).encode() + b"\r\n\r\n"


class TestGoogleFaults(FaultContract):
    provider = "google"
    end_marker = False
    text_wire = "gemini/gemini-2.5-pro-text.sse"
    expected_text = (
        'Of course!\n\nThe most common way to say "hi" in Portuguese is:\n\n**Oi**\n\n'
        'You can also say:\n\n**Olá** (This is a bit more like "Hello" and can be '
        "used in any situation.)"
    )
    inband_error_body = (
        _chunk("Hello")
        + _chunk(" there")
        + b'data: {"error": {"code": 500, "message": "upstream overloaded", '
        b'"status": "INTERNAL"}}\r\n\r\n'
    )
    inband_partial = "Hello there"
    inband_message = "upstream overloaded"
    malformed_body = _chunk("Hi") + b'data: {"candidates": [{"content": \r\n\r\n'
    malformed_partial = "Hi"

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": GOOGLE_STATUS[status]}}


async def test_closing_the_adapter_stream_closes_the_response_itself(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The contract's break/cancel tests pass even if a response is only freed by reference
    # counting; here the response is kept alive, so only the adapter's own close can end it.
    kept: list[httpx2.Response] = []

    async def keep(*args: Any) -> httpx2.Response:
        response = await open_stream(*args)
        kept.append(response)
        return response

    monkeypatch.setattr(google_adapter, "open_stream", keep)
    body = (WIRE / TestGoogleFaults.text_wire).read_bytes()
    reply = Reply(body, splits=list(range(64, len(body), 64)), delay=0.05)
    async with provider_ring("google", reply, project, monkeypatch) as (ring, server):
        adapter = ring._adapters.get(ring._configs["google"])
        events = adapter.stream(user_request("google:gemini-test"), "gemini-test")
        assert isinstance(events, AsyncGenerator)
        first = await anext(events)
        assert first == ModelReport("gemini-2.5-pro")
        await events.aclose()
        assert kept and kept[0].is_closed
        await server.wait_for_disconnect(1.0)
    assert server.completed == []
