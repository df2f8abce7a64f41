"""What the ``anthropic`` adapter makes the SDK send: recorded by the loopback server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing
from llmring.exceptions import ConfigurationError
from tests.loopback import RecordedRequest, Reply
from tests.test_wire_anthropic import WEATHER_REASONING, WEATHER_SIGNATURE
from tests.wire_harness import PROVIDERS, provider_ring, run_stream

TEXT = "anthropic/claude-sonnet-4-6-text.sse"
KEY = PROVIDERS["anthropic"][1]
PARAMETERS = {
    "type": "object",
    "properties": {"country": {"type": "string"}},
    "required": ["country"],
}
TOOL = {
    "type": "function",
    "function": {
        "name": "get_capital",
        "description": "Capital of a country",
        "parameters": PARAMETERS,
    },
}
THOUGHT = {"type": "thinking", "thinking": "The user wants two capitals.", "signature": "c2lnLTE="}
CALL_UK = {
    "id": "toolu_1",
    "type": "function",
    "function": {"name": "get_capital", "arguments": '{"country": "UK"}'},
    "provider_data": {"anthropic_thinking": [THOUGHT]},
}
CALL_FR = {
    "id": "toolu_2",
    "type": "function",
    "function": {"name": "get_capital", "arguments": '{"country": "France"}'},
    "provider_data": {"thought_signature": "a Gemini signature, not for Anthropic"},
}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def request(*messages: dict[str, Any], **options: Any) -> LLMRequest:
    return LLMRequest.model_validate(
        {"model": "anthropic:test-model", "messages": list(messages), **options}
    )


async def sent(
    llm_request: LLMRequest, project: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], RecordedRequest]:
    async with provider_ring("anthropic", Reply.wire(TEXT), project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, llm_request)
    assert outcome.error is None, outcome.error
    assert outcome.text == "**Pete** or **Scoop**"
    [recorded] = server.requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/messages")
    return recorded.json(), recorded


async def refused(
    llm_request: LLMRequest, project: Path, monkeypatch: pytest.MonkeyPatch
) -> ConfigurationError:
    async with provider_ring("anthropic", Reply.wire(TEXT), project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, llm_request)
    assert isinstance(outcome.error, ConfigurationError), outcome.error
    assert outcome.chunks == [] and server.requests == []
    return outcome.error


async def test_conversation_tools_and_options(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, recorded = await sent(
        request(
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
            user("Capitals of the UK and France?"),
            {"role": "assistant", "content": "Looking them up.", "tool_calls": [CALL_UK, CALL_FR]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "London"},
            {
                "role": "tool",
                "tool_call_id": "toolu_2",
                "content": [{"type": "text", "text": "Paris"}],
            },
            user("Thanks. And Spain?"),
            temperature=0.3,
            max_tokens=77,
            tools=[TOOL],
            tool_choice="required",
            extra_params={"top_k": 5, "metadata": {"user_id": "u-1"}},
        ),
        project,
        monkeypatch,
    )
    assert body == {
        "model": "test-model",
        "max_tokens": 77,
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Capitals of the UK and France?"}],
            },
            {
                "role": "assistant",
                "content": [
                    THOUGHT,  # signed thinking first: a thinking tool turn must start with it
                    {"type": "text", "text": "Looking them up."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_capital",
                        "input": {"country": "UK"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "get_capital",
                        "input": {"country": "France"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [  # both results and the next question: one user turn
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "London"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [{"type": "text", "text": "Paris"}],
                    },
                    {"type": "text", "text": "Thanks. And Spain?"},
                ],
            },
        ],
        "tools": [
            {
                "name": "get_capital",
                "description": "Capital of a country",
                "input_schema": PARAMETERS,
            }
        ],
        "tool_choice": {"type": "any"},
        "stream": True,  # no temperature: this API version refuses sampling parameters
        "top_k": 5,
        "metadata": {"user_id": "u-1"},
    }
    # anthropic 2.x sends the key as a bearer token (not x-api-key) and its API version
    assert recorded.headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in recorded.headers
    assert recorded.headers["anthropic-version"]


async def test_minimal_request_and_the_default_max_tokens(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = await sent(request(user("hello")), project, monkeypatch)
    assert body == {
        "model": "test-model",
        "max_tokens": 4096,
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_capital"}},
            {"type": "tool", "name": "get_capital"},
        ),
    ],
)
async def test_tool_choice(
    choice: Any, expected: dict[str, Any], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = await sent(
        request(user("hi"), tools=[TOOL], tool_choice=choice), project, monkeypatch
    )
    assert body["tool_choice"] == expected


async def test_tool_choice_without_tools_is_not_sent(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = await sent(request(user("hi"), tool_choice="none"), project, monkeypatch)
    assert "tool_choice" not in body and "tools" not in body


async def test_consecutive_turns_of_one_role_are_merged(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = await sent(
        request(
            user("one"),
            user([{"type": "text", "text": "two"}]),
            {"role": "assistant", "content": "three"},
            {"role": "assistant", "content": "four"},
            user("five"),
        ),
        project,
        monkeypatch,
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}],
        },
        {"role": "user", "content": [{"type": "text", "text": "five"}]},
    ]


async def test_images(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body, _ = await sent(
        request(
            user(
                [
                    {"type": "text", "text": "Compare"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/pelican.jpg"}},
                ]
            )
        ),
        project,
        monkeypatch,
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/pelican.jpg"}},
    ]


async def test_json_schema_response_format(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}
    body, _ = await sent(request(user("hi"), response_format=response_format), project, monkeypatch)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


@pytest.mark.parametrize(
    ("llm_request", "words"),
    [
        (
            request(
                user(
                    [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]
                )
            ),
            "'input_audio'",
        ),
        (request(user([{"type": "file", "file": {"file_id": "file-1"}}])), "'file'"),
        (
            request(user("hi"), response_format={"type": "json_object"}),
            "response_format 'json_object'",
        ),
        (
            request(
                {
                    "role": "system",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x.y/i.png"}}],
                },
                user("hi"),
            ),
            "only text",
        ),
        (
            request(user([{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}])),
            "base64",
        ),
        (
            request(user([{"type": "image_url", "image_url": {"url": "ftp://x.y/i.png"}}])),
            "data: or http(s)",
        ),
        (
            request(
                user("hi"),
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "toolu_x",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": '},
                        }
                    ],
                },
            ),
            "'toolu_x'",
        ),
        (
            request(
                user("hi"),
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "toolu_y",
                            "type": "function",
                            "function": {"name": "f", "arguments": "[1]"},
                        }
                    ],
                },
            ),
            "JSON object",
        ),
    ],
)
async def test_what_cannot_be_represented_is_refused_before_sending(
    llm_request: LLMRequest, words: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = await refused(llm_request, project, monkeypatch)
    assert words in str(error)


async def test_thinking_round_trip(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the recorded extended-thinking tool turn, then the next request built from its terminal
    # chunk: the signed thinking block goes back, exactly as received, before the tool_use
    first = request(user("Weather in Florence?"), tools=[TOOL])
    async with provider_ring(
        "anthropic",
        Reply.wire("anthropic/claude-sonnet-4-thinking-then-tool-use.sse"),
        project,
        monkeypatch,
    ) as (ring, server):
        outcome = await run_stream(ring, first)
        [call] = outcome.terminal.tool_calls or []
        server.reply = Reply.wire(TEXT)
        follow_up = request(
            user("Weather in Florence?"),
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 24 C"},
            tools=[TOOL],
        )
        assert (await run_stream(ring, follow_up)).error is None
    thought = {"type": "thinking", "thinking": WEATHER_REASONING, "signature": WEATHER_SIGNATURE}
    assert call["provider_data"] == {"anthropic_thinking": [thought]}
    assert server.requests[1].json()["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Florence?"}]},
        {
            "role": "assistant",
            "content": [
                thought,
                {
                    "type": "tool_use",
                    "id": "toolu_01Js4AMfx5qpTLhwTusnvT68",
                    "name": "weather",
                    "input": {"location": "Florence, Italy"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01Js4AMfx5qpTLhwTusnvT68",
                    "content": "Sunny, 24 C",
                }
            ],
        },
    ]


async def test_redacted_thinking_goes_back_as_it_came(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = {
        "id": "toolu_r",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
        "provider_data": {
            "anthropic_thinking": [{"type": "redacted_thinking", "data": "EqkECkYIBxgC"}, THOUGHT]
        },
    }
    body, _ = await sent(
        request(
            user("hi"),
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "toolu_r", "content": "ok"},
        ),
        project,
        monkeypatch,
    )
    assert body["messages"][1]["content"] == [
        {"type": "redacted_thinking", "data": "EqkECkYIBxgC"},
        THOUGHT,
        {"type": "tool_use", "id": "toolu_r", "name": "f", "input": {}},
    ]


async def test_keyless_compatible_endpoint(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a lockfile name speaking Anthropic's protocol with no api_key_env: the SDK gets a
    # placeholder key instead of hunting for credentials of its own (profiles, identity files)
    async with provider_ring("anthropic", Reply.wire(TEXT), project, monkeypatch) as (_, server):
        path = project / "local.lock"
        path.write_text(
            f'version = "1.0"\n[profiles.default]\nname = "default"\n'
            f'[providers.local]\ntype = "anthropic"\nbase_url = "{server.base_url}"\n'
        )
        async with LLMRing(path) as ring:
            outcome = await run_stream(
                ring,
                LLMRequest.model_validate(
                    {"model": "local:claude-local", "messages": [user("hi")], "max_tokens": 5}
                ),
            )
    assert outcome.terminal.provider == "local"
    assert server.requests[0].json()["max_tokens"] == 5
    assert server.requests[0].headers["authorization"] == "Bearer no-key"


async def test_stop_sequences_are_sent_as_stop_sequences(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = await sent(request(user("hi"), stop=["END", "\n\nHuman:"]), project, monkeypatch)
    assert body["stop_sequences"] == ["END", "\n\nHuman:"]
    assert "stop" not in body  # the Messages API refuses an unknown top-level field
    body, _ = await sent(request(user("hi"), extra_params={"stop": "END"}), project, monkeypatch)
    assert (body["stop_sequences"], "stop" in body) == (["END"], False)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"stop": ["END", "\n"]}, "stop sequence '\\n' is only whitespace"),
        (
            {"stop": ["END"], "extra_params": {"stop_sequences": ["X"]}},
            "extra_params['stop_sequences']",
        ),
    ],
)
async def test_stop_sequences_anthropic_cannot_take_are_refused(
    options: dict[str, Any], words: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = await refused(request(user("hi"), **options), project, monkeypatch)
    assert words in str(error) and "Anthropic" in str(error)
