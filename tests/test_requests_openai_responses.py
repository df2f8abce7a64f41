"""What the ``openai-responses`` adapter makes the SDK send: recorded by the loopback server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring.exceptions import ConfigurationError
from tests.loopback import RecordedRequest, Reply
from tests.request_samples import CALL, TOOL, recorded_request
from tests.wire_harness import PROVIDERS, provider_ring, run_stream

TEXT = "openai/responses-gpt-5.5-text-after-tool.sse"


async def sent(
    request: LLMRequest, project: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], RecordedRequest]:
    return await recorded_request(
        "openai-responses", TEXT, "/v1/responses", request, project, monkeypatch
    )


async def test_conversation_tools_and_options(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = LLMRequest(
        model="openai-responses:gpt-5",
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="developer", content="Answer in English."),
            Message(role="user", content="Capital of the UK?"),
            Message(role="assistant", content="Let me look.", tool_calls=[CALL]),
            Message(role="tool", tool_call_id="call_1", content="London"),
            Message(
                role="user",
                content=[
                    {"type": "text", "text": "And this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                    },
                ],
            ),
        ],
        temperature=0.3,
        max_tokens=77,
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "get_capital"}},
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "capital", "schema": {"type": "object"}, "strict": True},
        },
        extra_params={"reasoning": {"effort": "low", "summary": "auto"}, "store": False},
    )
    body, recorded = await sent(request, project, monkeypatch)
    assert body == {
        "model": "gpt-5",
        "input": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": "Capital of the UK?"},
            {"role": "assistant", "content": "Let me look."},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_capital",
                "arguments": '{"country": "UK"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "London"},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "And this?"},
                    {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "auto"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,AAAA",
                        "detail": "low",
                    },
                ],
            },
        ],
        "stream": True,
        "temperature": 0.3,
        "max_output_tokens": 77,
        "tools": [
            {
                "type": "function",
                "name": "get_capital",
                "description": "Capital of a country",
                "parameters": TOOL["function"]["parameters"],
                "strict": False,
            }
        ],
        "tool_choice": {"type": "function", "name": "get_capital"},
        "text": {
            "format": {
                "type": "json_schema",
                "name": "capital",
                "schema": {"type": "object"},
                "strict": True,
            }
        },
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": False,
    }
    assert recorded.headers["authorization"] == f"Bearer {PROVIDERS['openai-responses'][1]}"


async def test_a_minimal_request_sends_nothing_unasked(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no reasoning summary, no store, no instructions: only what the request says
    request = LLMRequest(
        model="openai-responses:gpt-5", messages=[Message(role="user", content="hi")]
    )
    body, _ = await sent(request, project, monkeypatch)
    assert body == {"model": "gpt-5", "input": [{"role": "user", "content": "hi"}], "stream": True}


async def test_tool_options_and_json_object(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    strict_tool = {
        "type": "function",
        "function": {"name": "now", "strict": True},  # no parameters: an empty list
    }
    request = LLMRequest(
        model="openai-responses:gpt-5",
        messages=[
            Message(role="user", content="time?"),
            # no arguments at all: the adapter sends "{}"
            Message(role="assistant", tool_calls=[{**CALL, "function": {"name": "now"}}]),  # type: ignore[typeddict-item]
            Message(role="tool", tool_call_id="call_1", content=[{"type": "text", "text": "9"}]),
        ],
        tools=[strict_tool],
        tool_choice="required",
        response_format={"type": "json_object"},
    )
    body, _ = await sent(request, project, monkeypatch)
    assert body["input"][1:] == [
        {"type": "function_call", "call_id": "call_1", "name": "now", "arguments": "{}"},
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": [{"type": "input_text", "text": "9"}],
        },
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "now",
            "parameters": {"type": "object", "properties": {}},
            "strict": True,
        }
    ]
    assert body["tool_choice"] == "required"
    assert body["text"] == {"format": {"type": "json_object"}}


async def test_a_lockfile_endpoint_of_this_type(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with provider_ring("openai-responses", Reply.wire(TEXT), project, monkeypatch) as (
        _,
        server,
    ):
        path = project / "local.lock"
        path.write_text(
            f'version = "1.0"\n[profiles.default]\nname = "default"\n'
            f'[providers.gateway]\ntype = "openai-responses"\nbase_url = "{server.base_url}/v1"\n'
        )
        async with LLMRing(path) as ring:
            outcome = await run_stream(
                ring,
                LLMRequest(model="gateway:gpt-5", messages=[Message(role="user", content="hi")]),
            )
    assert outcome.text == "1231 × 2331 = **2,869,461**"
    assert outcome.terminal.provider == "gateway"
    assert server.requests[0].path == "/v1/responses"
    assert server.requests[0].headers["authorization"] == "Bearer no-key"


BAD_REQUESTS = [
    ({"extra_params": {"n": 2}}, "extra_params n=2"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "'json_schema'"),
    ({"response_format": {"type": "grammar"}}, "'grammar'"),
    (
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "'input_audio'",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "image_url", "image_url": "x"}]},
            ]
        },
        "assistant message can hold only text",
    ),
]


async def test_stop_sequences_are_refused_naming_the_provider(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = LLMRequest(
        model="openai-responses:gpt-5",
        messages=[Message(role="user", content="hi")],
        stop=["END"],
    )
    async with provider_ring("openai-responses", Reply.wire(TEXT), project, monkeypatch) as (
        ring,
        server,
    ):
        outcome = await run_stream(ring, request)
    assert isinstance(outcome.error, ConfigurationError), outcome.error
    message = str(outcome.error)
    assert "stop sequences" in message and "openai-responses" in message
    assert "gpt-5" in message and "not supported" in message
    assert server.requests == [] and outcome.chunks == []


@pytest.mark.parametrize(("fields", "named"), BAD_REQUESTS)
async def test_what_cannot_be_sent_is_refused_before_any_request(
    fields: dict[str, Any], named: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = LLMRequest(
        **{"model": "openai-responses:gpt-5", "messages": [{"role": "user", "content": "hi"}]}
        | fields
    )
    async with provider_ring("openai-responses", Reply.wire(TEXT), project, monkeypatch) as (
        ring,
        server,
    ):
        outcome = await run_stream(ring, request)
    assert isinstance(outcome.error, ConfigurationError), outcome.error
    assert named in str(outcome.error)
    assert server.requests == []
