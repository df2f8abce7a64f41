"""The fault contract (tests/fault_contract.py) for the ``openai-responses`` adapter."""

from __future__ import annotations

import json
from typing import Any

from tests.fault_contract import FaultContract


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _text(delta: str) -> bytes:
    return _event(
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "delta": delta,
        }
    )


class TestOpenAIResponsesFaults(FaultContract):
    provider = "openai-responses"
    text_wire = "openai/responses-gpt-5.5-text-after-tool.sse"
    expected_text = "1231 × 2331 = **2,869,461**"
    inband_error_body = (
        _text("Hello")
        + _text(" there")
        + _event(
            {
                "type": "error",
                "error": {
                    "type": "server_error",
                    "code": "server_error",
                    "message": "upstream overloaded",
                },
            }
        )
    )
    inband_partial = "Hello there"
    inband_message = "upstream overloaded"
    malformed_body = _text("Hi") + b'event: response.output_text.delta\ndata: {"type": "resp\n\n'
    malformed_partial = "Hi"

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": "invalid_request_error", "code": str(status)}}


class TestOpenAIResponsesFaultsOnHttpx2(TestOpenAIResponsesFaults):
    """The same contract with the openai SDK on httpx2's own transport (no aiohttp)."""

    transport = "httpx2"
