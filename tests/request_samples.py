"""What the request tests of the OpenAI-shaped adapters share: one tool, one call of it, and
the body the real SDK sent for a request, as the loopback server recorded it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest
from llmring.schemas import ToolCallDict
from tests.loopback import RecordedRequest, Reply
from tests.wire_harness import provider_ring, run_stream

#: a function tool in OpenAI's request shape
TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_capital",
        "description": "Capital of a country",
        "parameters": {
            "type": "object",
            "properties": {"country": {"type": "string"}},
            "required": ["country"],
        },
    },
}
#: a complete call of :data:`TOOL`, with provider data another adapter set (to be dropped)
CALL: ToolCallDict = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_capital", "arguments": '{"country": "UK"}'},
    "provider_data": {"thought_signature": "abc"},
}


async def recorded_request(
    provider: str,
    wire: str,
    path: str,
    request: LLMRequest,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, Any], RecordedRequest]:
    """Stream ``request`` through ``provider`` (answered with the recording ``wire``) and
    return the one request the SDK sent, which must be a POST to ``path``: its JSON body and
    the request itself."""
    async with provider_ring(provider, Reply.wire(wire), project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, request)
    assert outcome.error is None, outcome.error
    [recorded] = server.requests
    assert (recorded.method, recorded.path) == ("POST", path)
    return recorded.json(), recorded
