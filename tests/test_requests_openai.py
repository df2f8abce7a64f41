"""What the ``openai`` adapter makes the SDK send: recorded by the loopback server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, Message
from llmring.exceptions import ConfigurationError
from tests.loopback import RecordedRequest, Reply
from tests.request_samples import CALL, TOOL, recorded_request
from tests.wire_harness import PROVIDERS, provider_ring, run_stream

TEXT = "openai/chat-gpt-4o-mini-text-usage.sse"


async def sent(
    request: LLMRequest, project: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], RecordedRequest]:
    return await recorded_request(
        "openai", TEXT, "/v1/chat/completions", request, project, monkeypatch
    )


async def test_conversation_tools_and_options(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = LLMRequest(
        model="openai:gpt-4o-mini",
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="Capital of the UK?"),
            Message(role="assistant", tool_calls=[CALL]),
            Message(role="tool", tool_call_id="call_1", content="London"),
            Message(role="user", content=[{"type": "text", "text": "Thanks"}]),
        ],
        temperature=0.3,
        max_tokens=77,
        tools=[TOOL],
        tool_choice="auto",
        response_format={"type": "json_object"},
        extra_params={"top_p": 0.5, "seed": 7},
    )
    body, recorded = await sent(request, project, monkeypatch)
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of the UK?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_capital", "arguments": '{"country": "UK"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "London"},
            {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.3,
        "max_completion_tokens": 77,
        "tools": [TOOL],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "top_p": 0.5,
        "seed": 7,
    }
    assert recorded.headers["authorization"] == f"Bearer {PROVIDERS['openai'][1]}"


async def test_compatible_servers_get_max_tokens_and_no_key(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with provider_ring("openai", Reply.wire(TEXT), project, monkeypatch) as (_, server):
        path = project / "local.lock"
        path.write_text(
            f'version = "1.0"\n[profiles.default]\nname = "default"\n'
            f'[providers.local]\ntype = "openai"\nbase_url = "{server.base_url}/v1"\n'
        )
        from llmring import LLMRing

        async with LLMRing(path) as ring:
            outcome = await run_stream(
                ring,
                LLMRequest(
                    model="local:qwen", messages=[Message(role="user", content="hi")], max_tokens=5
                ),
            )
    assert outcome.terminal.provider == "local"
    body = server.requests[0].json()
    assert body["max_tokens"] == 5 and "max_completion_tokens" not in body
    assert server.requests[0].headers["authorization"] == "Bearer no-key"


async def test_several_choices_are_refused_before_any_request(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with provider_ring("openai", Reply.wire(TEXT), project, monkeypatch) as (ring, server):
        outcome = await run_stream(
            ring,
            LLMRequest(
                model="openai:gpt-4o-mini",
                messages=[Message(role="user", content="hi")],
                extra_params={"n": 2},
            ),
        )
    assert isinstance(outcome.error, ConfigurationError) and "n=2" in str(outcome.error)
    assert server.requests == []


async def test_stop_sequences_are_sent_as_stop(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hi = [Message(role="user", content="hi")]
    request = LLMRequest(model="openai:gpt-4o-mini", messages=hi, stop=["\n", "END"])
    body, _ = await sent(request, project, monkeypatch)
    assert body["stop"] == ["\n", "END"]
    # extra_params["stop"] is the same field (a string is a list of one)
    legacy = LLMRequest(model="openai:gpt-4o-mini", messages=hi, extra_params={"stop": "END"})
    body, _ = await sent(legacy, project, monkeypatch)
    assert body["stop"] == ["END"]
