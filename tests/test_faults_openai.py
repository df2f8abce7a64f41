"""The fault contract (tests/fault_contract.py) for the ``openai`` adapter."""

from __future__ import annotations

import json
from typing import Any

from tests.fault_contract import FaultContract


def _chunk(content: str) -> bytes:
    data = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "test-model",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


class TestOpenAIFaults(FaultContract):
    provider = "openai"
    text_wire = "openai/chat-gpt-4o-mini-text-usage.sse"
    expected_text = "The capital of the UK is London."
    inband_error_body = (
        _chunk("Hello")
        + _chunk(" there")
        + b"event: error\n"
        + b'data: {"error": {"message": "upstream overloaded", "type": "server_error"}}\n\n'
    )
    inband_partial = "Hello there"
    inband_message = "upstream overloaded"
    malformed_body = _chunk("Hi") + b'data: {"id": "c", "choices": [\n\n'
    malformed_partial = "Hi"

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": "invalid_request_error", "code": str(status)}}


class TestOpenAIFaultsOnHttpx2(TestOpenAIFaults):
    """The same contract with the openai SDK on httpx2's own transport (no aiohttp)."""

    transport = "httpx2"
