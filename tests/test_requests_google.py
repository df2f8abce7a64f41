"""What the ``google`` adapter (through the real ``google-genai`` SDK) puts on the wire.

The loopback server records every request; the tests compare its path, headers and JSON body
with what the Gemini REST API expects, and check that content Gemini cannot take is refused
with a ``ConfigurationError`` before any request is made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing
from llmring.exceptions import ConfigurationError, ProviderResponseError
from tests.loopback import WIRE, LoopbackServer, RecordedRequest, Reply
from tests.wire_harness import PROVIDERS, provider_ring, run_stream, set_fake_key, user_request

KEY = PROVIDERS["google"][1]
assert KEY is not None
TEXT_REPLY = "gemini/gemini-2.5-pro-text.sse"
SIGNATURE_REPLY = "gemini/gemini-3-pro-preview-function-call-thought-signature.sse"
PARALLEL_REPLY = "gemini/gemini-3.1-pro-preview-parallel-function-calls.sse"

WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME: dict[str, Any] = {"type": "function", "function": {"name": "time"}}


async def sent(
    request: LLMRequest, project: Path, monkeypatch: pytest.MonkeyPatch, reply: str = TEXT_REPLY
) -> RecordedRequest:
    """Run ``request`` against a recorded reply; return the one request the SDK sent."""
    async with provider_ring("google", Reply.wire(reply), project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, request)
    assert outcome.error is None, outcome.error
    assert len(server.requests) == 1
    return server.requests[0]


def req(messages: list[dict[str, Any]], **kwargs: Any) -> LLMRequest:
    return LLMRequest.model_validate(
        {"model": "google:gemini-test", "messages": messages, **kwargs}
    )


async def test_path_method_and_key_header(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    request = await sent(user_request("google:gemini-test"), project, monkeypatch)
    assert request.method == "POST"
    assert request.path == "/v1/models/gemini-test:streamGenerateContent?alt=sse"
    assert request.headers["x-goog-api-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert "google-genai-sdk/" in request.headers["user-agent"]
    # the key travels in that one header only: never in the URL, the body or another header
    assert KEY not in request.path and KEY.encode() not in request.body
    assert [name for name, value in request.headers.items() if KEY in value] == ["x-goog-api-key"]
    assert request.json() == {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("models/gemini-2.5-flash", "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
        ("tunedModels/my-tune-7", "/v1/tunedModels/my-tune-7:streamGenerateContent?alt=sse"),
    ],
)
async def test_model_names_with_a_collection(
    model: str, path: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = await sent(user_request(f"google:{model}"), project, monkeypatch)
    assert request.path == path


async def test_conversation_roles_system_and_tool_turns(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
            "provider_data": {"thought_signature": "c2lnLWE="},
        },
        {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": ""}},
    ]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather and time in Paris?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp_c": 21}'},
        {"role": "developer", "content": "Answer in French."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Thanks! "},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    body = (await sent(req(messages), project, monkeypatch)).json()
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be brief."}, {"text": "Answer in French."}]
    }
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2lnLWE=",
                },
                {"functionCall": {"name": "time", "args": {}}},
            ],
        },
        # both results and the next user message merge into one user turn, matched by name
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "time", "response": {"output": "12:00"}}},
                {"functionResponse": {"name": "weather", "response": {"temp_c": 21}}},
                {"text": "Thanks! "},
                {"text": "And tomorrow?"},
            ],
        },
    ]


async def test_recorded_thought_signature_goes_back_on_the_next_turn(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = json.loads((WIRE / SIGNATURE_REPLY).read_bytes().split(b"\r\n\r\n")[0][6:])
    signature = recorded["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
    async with provider_ring("google", Reply.wire(SIGNATURE_REPLY), project, monkeypatch) as (
        ring,
        server,
    ):
        first = await run_stream(ring, user_request("google:gemini-test", tools=[TIME]))
        calls = first.terminal.tool_calls
        assert calls is not None and calls[0]["provider_data"]["thought_signature"] == signature
        server.reply = Reply.wire(TEXT_REPLY)
        follow = req(
            [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "tool", "tool_call_id": calls[0]["id"], "content": "Japan"},
            ]
        )
        second = await run_stream(ring, follow)
    assert second.error is None
    contents = server.requests[1].json()["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_country", "args": {}}, "thoughtSignature": signature}
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_country", "response": {"output": "Japan"}}}],
    }


async def test_gemini_call_ids_are_echoed_on_call_and_response(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with provider_ring("google", Reply.wire(PARALLEL_REPLY), project, monkeypatch) as (
        ring,
        server,
    ):
        first = await run_stream(ring, user_request("google:gemini-test"))
        calls = first.terminal.tool_calls
        assert calls is not None and [c["id"] for c in calls] == ["8hd01vsf", "k0srpqrc"]
        server.reply = Reply.wire(TEXT_REPLY)
        follow = req(
            [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "tool_calls": calls},
                {"role": "tool", "tool_call_id": "k0srpqrc", "content": "6"},
                {"role": "tool", "tool_call_id": "8hd01vsf", "content": "5"},
            ]
        )
        assert (await run_stream(ring, follow)).error is None
    model_turn, results = server.requests[1].json()["contents"][1:]
    assert [p["functionCall"] for p in model_turn["parts"]] == [
        {"name": "add", "args": {"a": 2, "b": 3}, "id": "8hd01vsf"},
        {"name": "multiply", "args": {"b": 3, "a": 2}, "id": "k0srpqrc"},
    ]
    assert "thoughtSignature" in model_turn["parts"][0]
    assert "thoughtSignature" not in model_turn["parts"][1]
    assert [p["functionResponse"] for p in results["parts"]] == [
        {"name": "multiply", "response": {"output": "6"}, "id": "k0srpqrc"},
        {"name": "add", "response": {"output": "5"}, "id": "8hd01vsf"},
    ]


async def test_tools_and_generation_config(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    request = user_request(
        "google:gemini-test",
        tools=[WEATHER, TIME],
        tool_choice="auto",
        temperature=0.2,
        max_tokens=99,
        response_format={"type": "json_object"},
    )
    body = (await sent(request, project, monkeypatch)).json()
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "weather",
                    "description": "Weather for a city",
                    "parametersJsonSchema": WEATHER["function"]["parameters"],
                },
                {"name": "time"},
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 99,
        "responseMimeType": "application/json",
    }


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "time"}},
            {"mode": "ANY", "allowedFunctionNames": ["time"]},
        ),
    ],
)
async def test_tool_choice(
    choice: Any, config: dict[str, Any], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = user_request("google:gemini-test", tools=[WEATHER, TIME], tool_choice=choice)
    body = (await sent(request, project, monkeypatch)).json()
    assert body["toolConfig"] == {"functionCallingConfig": config}


async def test_json_schema_and_extra_params(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    request = user_request(
        "google:gemini-test",
        max_tokens=10,
        tools=[TIME],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        extra_params={
            "top_p": 0.5,
            "maxOutputTokens": 20,
            "thinking_config": {"includeThoughts": True},
            "tools": [{"codeExecution": {}}],
            "safety_settings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
            ],
        },
    )
    body = (await sent(request, project, monkeypatch)).json()
    assert body["generationConfig"] == {
        "maxOutputTokens": 20,  # extra_params win over the request's max_tokens
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
        "topP": 0.5,
        "thinkingConfig": {"includeThoughts": True},
    }
    assert body["tools"] == [{"functionDeclarations": [{"name": "time"}]}, {"codeExecution": {}}]
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
    ]


async def test_stop_sequences_go_into_generation_config(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = user_request("google:gemini-test", stop=["\n", "END"], temperature=0.1)
    body = (await sent(request, project, monkeypatch)).json()
    assert body["generationConfig"] == {"temperature": 0.1, "stopSequences": ["\n", "END"]}
    assert "stop" not in body
    # extra_params["stop"] is the same field, not a generationConfig key of its own
    request = user_request("google:gemini-test", extra_params={"stop": "END"})
    body = (await sent(request, project, monkeypatch)).json()
    assert body["generationConfig"] == {"stopSequences": ["END"]}


async def test_inline_image_from_a_data_url(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        }
    ]
    body = (await sent(req(messages), project, monkeypatch)).json()
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "What is this?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            ],
        }
    ]


UNSUPPORTED: dict[str, tuple[list[dict[str, Any]], dict[str, Any], str]] = {
    "remote image": (
        [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                ],
            }
        ],
        {},
        "messages[0].content[0]: image_url 'https://example.com/cat.png'",
    ),
    "audio part": (
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "input_audio", "input_audio": {}},
                ],
            }
        ],
        {},
        "messages[0].content[1]: content part type 'input_audio'",
    ),
    "image in a system message": (
        [
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "data:x"}}]},
            {"role": "user", "content": "hi"},
        ],
        {},
        "a system message can only hold text",
    ),
    "result for an unknown call": (
        [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "call_nowhere", "content": "42"},
        ],
        {},
        "tool_call_id 'call_nowhere'",
    ),
    "arguments that are not JSON": (
        [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{oops"},
                    }
                ],
            },
        ],
        {},
        "tool call 'c1' has arguments that are not JSON",
    ),
    "response format": (
        [{"role": "user", "content": "hi"}],
        {"response_format": {"type": "xml"}},
        "response_format type 'xml'",
    ),
    "several candidates": (
        [{"role": "user", "content": "hi"}],
        {"extra_params": {"candidate_count": 2}},
        "candidate_count=2",
    ),
    "stop sequences set twice": (
        [{"role": "user", "content": "hi"}],
        {"stop": ["END"], "extra_params": {"stop_sequences": ["X"]}},
        "stop and extra_params['stop_sequences']",
    ),
    "stop sequences set twice, camelCase": (
        [{"role": "user", "content": "hi"}],
        {"stop": ["END"], "extra_params": {"stopSequences": ["X"]}},
        "stop and extra_params['stopSequences']",
    ),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
async def test_unsupported_content_is_refused_before_any_request(
    case: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages, kwargs, words = UNSUPPORTED[case]
    async with provider_ring("google", Reply.wire(TEXT_REPLY), project, monkeypatch) as (
        ring,
        server,
    ):
        outcome = await run_stream(ring, req(messages, **kwargs))
    assert isinstance(outcome.error, ConfigurationError), outcome.error
    assert words in str(outcome.error)
    assert server.requests == [] and outcome.chunks == []


async def test_max_retries_from_the_lockfile_lets_the_sdk_retry(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_fake_key("google", monkeypatch)
    failure = Reply.error(
        503, {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    )
    async with LoopbackServer(failure) as server:
        path = project / "retry.lock"
        path.write_text(
            f'version = "1.0"\ndefault_profile = "default"\n\n[profiles.default]\n'
            f'name = "default"\n\n[providers.google]\nbase_url = "{server.base_url}"\n'
            "max_retries = 1\n",
            encoding="utf-8",
        )
        async with LLMRing(path) as ring:
            outcome = await run_stream(ring, user_request("google:gemini-test"))
    assert isinstance(outcome.error, ProviderResponseError) and outcome.error.status_code == 503
    assert len(server.requests) == 2


async def test_aclose_releases_the_clients(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with provider_ring("google", Reply.wire(TEXT_REPLY), project, monkeypatch) as (ring, _):
        assert (await run_stream(ring, user_request("google:gemini-test"))).error is None
        adapter = ring._adapters.get(ring._configs["google"])
        http = adapter.client.http
        assert not http.is_closed
    assert http.is_closed
    assert adapter._client is None
    await adapter.aclose()  # idempotent
