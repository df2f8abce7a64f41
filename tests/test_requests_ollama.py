"""What the ``ollama`` adapter sends to ``POST /api/chat``: recorded by the loopback server."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing
from llmring.exceptions import ConfigurationError
from tests.loopback import Reply
from tests.wire_harness import PROVIDERS, provider_ring, run_stream

TEXT = "ollama/gemma3-1b-text-chunked.ndjson"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
#: nested object properties and keywords such as minimum/additionalProperties must reach the
#: server unchanged (the SDK's own request models would drop them)
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a place",
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "required": ["place"],
            "properties": {
                "place": {
                    "type": "object",
                    "required": ["city"],
                    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
                },
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
        },
    },
}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
CALLS = [
    {
        "id": "call_1",
        "type": "function",
        "function": {
            "name": "get_weather",
            "arguments": '{"place": {"city": "Detroit"}, "days": 2}',
        },
        "provider_data": {"thought_signature": "abc"},
    },
    {"id": "call_2", "type": "function", "function": {"name": "search", "arguments": ""}},
]


async def sent(
    request: LLMRequest, project: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    async with provider_ring("ollama", Reply.wire(TEXT), project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, request)
    assert outcome.error is None, outcome.error
    [recorded] = server.requests
    assert (recorded.method, recorded.path) == ("POST", "/api/chat")
    assert recorded.headers["content-type"] == "application/json"
    assert recorded.headers["user-agent"].startswith("ollama-python/")
    key = PROVIDERS["ollama"][1]  # OLLAMA_API_KEY (ollama.com) is sent as a bearer token
    assert recorded.headers.get("authorization") == (f"Bearer {key}" if key else None)
    body: dict[str, Any] = recorded.json()
    return body


def chat(*messages: dict[str, Any], **kwargs: Any) -> LLMRequest:
    return LLMRequest.model_validate(
        {"model": "ollama:qwen3:14b", "messages": list(messages), **kwargs}
    )


async def test_conversation_tools_and_options(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = chat(
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Use metric units."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in "},
                {"type": "text", "text": "Detroit?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
        {"role": "assistant", "content": "Checking.", "tool_calls": CALLS},
        {"role": "tool", "tool_call_id": "call_1", "content": "21 C, sunny"},
        {"role": "tool", "tool_call_id": "call_2", "name": "web_search", "content": "3pm"},
        {"role": "tool", "tool_call_id": "call_unknown", "content": "?"},
        {"role": "user", "content": "Thanks"},
        temperature=0.3,
        max_tokens=77,
        tools=[TOOL, SEARCH],
        tool_choice="auto",
        response_format={"type": "json_object"},
        extra_params={"top_p": 0.5, "seed": 7, "num_ctx": 8192, "think": True, "keep_alive": "10m"},
    )
    body = await sent(request, project, monkeypatch)
    assert body == {
        "model": "qwen3:14b",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "Use metric units."},
            {"role": "user", "content": "Weather in Detroit?", "images": [PNG]},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "function": {
                            "name": "get_weather",
                            "arguments": {"place": {"city": "Detroit"}, "days": 2},
                        },
                    },
                    {"id": "call_2", "function": {"name": "search", "arguments": {}}},
                ],
            },
            {
                "role": "tool",
                "content": "21 C, sunny",
                "tool_name": "get_weather",
                "tool_call_id": "call_1",
            },
            {"role": "tool", "content": "3pm", "tool_name": "web_search", "tool_call_id": "call_2"},
            {"role": "tool", "content": "?", "tool_call_id": "call_unknown"},
            {"role": "user", "content": "Thanks"},
        ],
        "stream": True,
        "tools": [TOOL, SEARCH],
        "format": "json",
        "options": {
            "temperature": 0.3,
            "num_predict": 77,
            "top_p": 0.5,
            "seed": 7,
            "num_ctx": 8192,
        },
        "think": True,
        "keep_alive": "10m",
    }


async def test_minimal_request(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = await sent(chat({"role": "user", "content": "hi"}), project, monkeypatch)
    assert body == {
        "model": "qwen3:14b",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }


async def test_json_schema_format_and_tool_choice_none(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    request = chat(
        {"role": "user", "content": "hi"},
        tools=[TOOL],
        tool_choice="none",
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        extra_params={"temperature": 0.9},
    )
    body = await sent(request, project, monkeypatch)
    assert "tools" not in body  # tool_choice="none": the model is offered no tools
    assert body["format"] == schema
    assert body["options"] == {"temperature": 0.9}  # extra_params go to options


async def test_stop_sequences_go_into_options(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hi = {"role": "user", "content": "hi"}
    body = await sent(chat(hi, stop=["\n", "END"], max_tokens=9), project, monkeypatch)
    assert body["options"] == {"num_predict": 9, "stop": ["\n", "END"]}
    assert "stop" not in body  # the native API reads options.stop only
    body = await sent(chat(hi, extra_params={"stop": "END", "seed": 1}), project, monkeypatch)
    assert body["options"] == {"stop": ["END"], "seed": 1}


async def test_host_from_ollama_host_when_the_lockfile_names_none(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with provider_ring("ollama", Reply.wire(TEXT), project, monkeypatch) as (_, server):
        monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{server.port}")
        path = project / "plain.lock"
        path.write_text('version = "1.0"\n[profiles.default]\nname = "default"\n')
        async with LLMRing(path) as ring:
            outcome = await run_stream(ring, chat({"role": "user", "content": "hi"}))
    outcome.check_contract()
    assert outcome.text == "Okay, here we go!\n\n1, 2, 3, 4, 5\n"
    assert [r.path for r in server.requests] == ["/api/chat"]


REFUSED = [
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                    ],
                }
            ]
        },
        "image_url (not a base64 data:image/ URL)",
    ),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "listen"},
                        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    ],
                }
            ]
        },
        "'input_audio'",
    ),
    ({"tools": [TOOL], "tool_choice": "required"}, "cannot force a tool call"),
    (
        {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        "cannot force a tool call",
    ),
    (
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{not json"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "x"},
            ]
        },
        "has arguments that are not JSON",
    ),
    (
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "[1, 2]"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "x"},
            ]
        },
        "needs the arguments to be a JSON object",
    ),
    ({"response_format": {"type": "xml"}}, "json_object or json_schema"),
    ({"response_format": {"type": "json_object"}, "extra_params": {"format": "json"}}, "not both"),
    ({"extra_params": {"stream": False}}, "extra_params cannot set stream"),
    ({"extra_params": {"options": {"seed": 1}}}, "extra_params cannot set options"),
]


@pytest.mark.parametrize(("fields", "message"), REFUSED)
async def test_refused_before_any_request(
    fields: dict[str, Any], message: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = LLMRequest(
        model="ollama:qwen3:14b", **{"messages": [{"role": "user", "content": "hi"}], **fields}
    )
    async with provider_ring("ollama", Reply.wire(TEXT), project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, request)
    assert isinstance(outcome.error, ConfigurationError), outcome.error
    assert message in str(outcome.error)
    assert server.requests == [] and outcome.chunks == []
