"""llmring.serve's mapping layer: OpenAI Chat Completions JSON ↔ LLMRequest, LLMResponse, errors.

Request bodies are the ones the official ``openai`` SDK sends, recorded by the loopback server;
the bodies llmring writes (completions, errors) are read back by the same SDK.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from llmring import LLMRequest, LLMResponse, LLMRing, Message, StreamChunk
from llmring.exceptions import (
    AliasNotFoundError,
    ConfigurationError,
    LLMRingError,
    LockfileParseError,
    ModelNotFoundError,
    ProfileNotFoundError,
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    StreamInterruptedError,
)
from llmring.schemas import ToolCallDict
from llmring.serve._errors import APIError, api_error, error_body, status_for
from llmring.serve._openai_api import ChatCall, chat_request, completion_body
from llmring.sse import INTERNAL_ERROR, openai_frames
from tests.loopback import LoopbackServer, Reply
from tests.request_samples import TOOL as SAMPLE_TOOL

#: typed Any: the SDK's parameters are TypedDicts of its own
TOOL: Any = SAMPLE_TOOL
CALL: ToolCallDict = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_capital", "arguments": '{"country": "UK"}'},
}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "capital", "schema": {"type": "object"}, "strict": True},
}
#: a non-streaming answer for the SDK to parse, written by hand
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}
SSE_TEXT = "openai/chat-gpt-4o-mini-text-usage.sse"


@asynccontextmanager
async def sdk_client(reply: Reply) -> AsyncIterator[tuple[LoopbackServer, openai.AsyncOpenAI]]:
    """The official SDK's async client, pointed at a loopback server answering ``reply``."""
    async with (
        LoopbackServer(reply) as server,
        openai.AsyncOpenAI(
            base_url=f"{server.base_url}/v1", api_key="test", max_retries=0
        ) as client,
    ):
        yield server, client


async def sdk_body(reply: Reply, **create: Any) -> dict[str, Any]:
    """The JSON body the official SDK sends for ``chat.completions.create(**create)``."""
    async with sdk_client(reply) as (server, client):
        result = await client.chat.completions.create(**create)
        if create.get("stream"):
            async for _ in result:
                pass
    [recorded] = server.requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    body: dict[str, Any] = recorded.json()
    return body


async def sdk_call(**create: Any) -> ChatCall:
    if create.get("stream"):
        return chat_request(await sdk_body(Reply.wire(SSE_TEXT), **create))
    return chat_request(await sdk_body(Reply.error(200, COMPLETION), **create))


def refusal(body: object) -> APIError:
    with pytest.raises(APIError) as caught:
        chat_request(body)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    return caught.value


USER: Any = [{"role": "user", "content": "Capital of the UK?"}]


# -- requests -----------------------------------------------------------------------------------


async def test_a_streamed_tool_conversation_from_the_sdk_maps_field_by_field() -> None:
    call = await sdk_call(
        model="chatbot",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in JSON."}]},
            {"role": "user", "content": [{"type": "text", "text": "Capital of the UK?"}]},
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": "London"},
        ],
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "get_capital"}},
        response_format=SCHEMA,
        temperature=0.2,
        max_completion_tokens=50,
        stop=["END", "STOP"],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert call.stream is True and call.include_usage is True
    assert call.request == LLMRequest(
        model="chatbot",
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="developer", content=[{"type": "text", "text": "Answer in JSON."}]),
            Message(role="user", content=[{"type": "text", "text": "Capital of the UK?"}]),
            Message(role="assistant", tool_calls=[CALL]),
            Message(role="tool", tool_call_id="call_1", content="London"),
        ],
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "get_capital"}},
        response_format=SCHEMA,
        temperature=0.2,
        max_tokens=50,
        stop=["END", "STOP"],
    )
    assert call.request.extra_params == {}


async def test_a_plain_sdk_call_is_not_streamed_and_keeps_provider_model_as_it_is() -> None:
    call = await sdk_call(
        model="openai:gpt-4o-mini", messages=USER, max_tokens=7, stop="END", tool_choice="none"
    )
    assert (call.stream, call.include_usage) == (False, False)
    assert call.request == LLMRequest(
        model="openai:gpt-4o-mini",
        messages=[Message(role="user", content="Capital of the UK?")],
        max_tokens=7,
        tool_choice="none",
        stop=["END"],
    )


async def test_a_tool_round_trip_echoing_the_sdks_own_message_maps() -> None:
    """The SDK's ``messages.append(completion.choices[0].message)`` sends back what the
    gateway's completion held (``refusal: null``, ``reasoning_content``): accepted, and only
    the conversation reaches the request."""
    response = LLMResponse(
        model="m", finish_reason="tool_calls", tool_calls=[CALL], reasoning="Look it up."
    )
    answer = completion_body(response, completion_id="chatcmpl-1", created=1)
    async with sdk_client(Reply.error(200, answer)) as (server, client):
        completion = await client.chat.completions.create(
            model="chatbot",
            messages=USER,
            tools=[TOOL],
        )
        messages: list[Any] = [*USER, completion.choices[0].message]
        messages.append({"role": "tool", "tool_call_id": "call_1", "content": "London"})
        await client.chat.completions.create(model="chatbot", messages=messages, tools=[TOOL])
    echoed = server.requests[1].json()
    assert echoed["messages"][1]["refusal"] is None  # what makes this test worth having
    assert echoed["messages"][1]["reasoning_content"] == "Look it up."
    assert chat_request(echoed).request.messages == [
        Message(role="user", content="Capital of the UK?"),
        Message(role="assistant", tool_calls=[CALL]),
        Message(role="tool", tool_call_id="call_1", content="London"),
    ]


async def test_a_stream_without_stream_options_asks_for_no_usage_chunk() -> None:
    call = await sdk_call(model="chatbot", messages=USER, stream=True)
    assert (call.stream, call.include_usage) == (True, False)
    assert call.request.extra_params == {}


async def test_fields_that_would_choose_the_endpoint_or_key_are_refused_by_name() -> None:
    body = await sdk_body(
        Reply.error(200, COMPLETION),
        model="chatbot",
        messages=USER,
        extra_body={"base_url": "http://169.254.169.254/", "api_key": "sk-proj-" + "x" * 24},
    )
    error = refusal(body)
    assert "'api_key'" in str(error) and "'base_url'" in str(error)
    assert error.param == "api_key"
    assert "169.254" not in str(error) and "x" * 24 not in json.dumps(error.body)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("n", 2),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("seed", 7),
        ("top_p", 0.5),
        ("presence_penalty", 0.5),
        ("user", "u-1"),
        ("parallel_tool_calls", False),
        ("reasoning_effort", "low"),
        ("service_tier", "flex"),
    ],
)
async def test_openai_options_llmring_cannot_honour_are_refused_by_name(
    option: str, value: object
) -> None:
    body = await sdk_body(
        Reply.error(200, COMPLETION), model="chatbot", messages=USER, **{option: value}
    )
    error = refusal(body)
    assert error.param == option
    assert str(error).startswith(f"{option}=")


def test_a_refused_value_is_shown_shortened() -> None:
    error = refusal({"model": "chatbot", "messages": USER, "metadata": {"note": "z" * 500}})
    assert error.param == "metadata" and str(error).startswith("metadata={'note': 'zzz")
    assert "z" * 100 not in str(error)


async def test_openai_defaults_that_ask_for_nothing_are_accepted() -> None:
    call = await sdk_call(
        model="chatbot", messages=USER, n=1, logprobs=False, parallel_tool_calls=True, store=False
    )
    assert call.request.messages == [Message(role="user", content="Capital of the UK?")]


@pytest.mark.parametrize(
    ("change", "param", "words"),
    [
        ({"model": 3}, "model", "must be a string"),
        ({"model": " "}, "model", "is required"),
        ({"messages": "hi"}, "messages", "must be a non-empty list"),
        ({"messages": []}, "messages", "non-empty list"),
        ({"messages": ["hi"]}, "messages[0]", "must be an object, not str"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role", "one of"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "a string or"),
        ({"messages": [{"role": "user", "content": "x", "audio": {}}]}, "messages[0].audio", ""),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0]", "tool_call_id"),
        ({"temperature": "0.5"}, "temperature", "must be a number"),
        ({"temperature": True}, "temperature", "not a boolean"),
        ({"temperature": 3}, "temperature", "less than or equal to 2"),
        ({"max_tokens": 5.0}, "max_tokens", "positive integer, not float"),
        ({"max_completion_tokens": 0}, "max_tokens", "greater than 0"),
        ({"max_tokens": 5, "max_completion_tokens": 6}, "max_completion_tokens", "disagree"),
        ({"stop": 1}, "stop", "a string or a list"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "up to 4"),
        ({"stream": "yes"}, "stream", "a boolean"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "stream: true"),
        ({"stream": True, "stream_options": {"x": 1}}, "stream_options.x", "include_usage"),
        ({"tools": {"type": "function"}}, "tools", "a list"),
        ({"tools": [{"type": "custom", "custom": {}}]}, "tools", "function format"),
        ({"tool_choice": {"type": "allowed_tools"}}, "tool_choice", "'allowed_tools'"),
        ({"response_format": "json"}, "response_format", "an object"),
        ({"response_format": {"type": "xml"}}, "response_format.type", "'xml'"),
        (
            {"messages": [{"role": "assistant", "content": "x", "refusal": "no"}]},
            "messages[0].refusal",
            "not supported",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "reasoning_content": "r"}]},
            "messages[0].reasoning_content",
            "not supported",
        ),
    ],
)
def test_wrong_shapes_name_the_field_and_what_it_must_be(
    change: dict[str, Any], param: str, words: str
) -> None:
    error = refusal({"model": "chatbot", "messages": USER, **change})
    assert error.param == param
    assert param in str(error) and words in str(error)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert "not list" in str(refusal([{"model": "chatbot"}]))


def test_equal_max_tokens_and_max_completion_tokens_are_one_limit() -> None:
    call = chat_request(
        {"model": "chatbot", "messages": USER, "max_tokens": 9, "max_completion_tokens": 9}
    )
    assert call.request.max_tokens == 9


# -- errors -------------------------------------------------------------------------------------


def provider(cls: type[ProviderError], **kwargs: Any) -> ProviderError:
    return cls("failed", provider="openai", model="gpt-4o-mini", **kwargs)


ERRORS: list[tuple[LLMRingError, int, type[openai.APIStatusError]]] = [
    (AliasNotFoundError("no alias 'chatbto'", alias="chatbto"), 404, openai.NotFoundError),
    (provider(ProviderNotFoundError), 404, openai.NotFoundError),
    (provider(ModelNotFoundError, status_code=404), 404, openai.NotFoundError),
    (provider(ProviderAuthenticationError, status_code=401), 401, openai.AuthenticationError),
    (provider(ProviderRateLimitError, retry_after=2.5), 429, openai.RateLimitError),
    (provider(ProviderResponseError, status_code=400), 400, openai.BadRequestError),
    (ConfigurationError("n=2 cannot be sent"), 400, openai.BadRequestError),
    (LockfileParseError("bad lockfile"), 500, openai.InternalServerError),
    (ProfileNotFoundError("no profile 'prod'"), 500, openai.InternalServerError),
    (provider(ProviderUnavailableError), 503, openai.InternalServerError),
    (provider(ProviderTimeoutError), 504, openai.InternalServerError),
    (provider(ProviderConnectionError), 502, openai.InternalServerError),
    (provider(ProviderResponseError, status_code=529), 502, openai.InternalServerError),
    (provider(ProviderResponseError), 502, openai.InternalServerError),
    (StreamInterruptedError("cut", partial_response="Lon"), 502, openai.InternalServerError),
]


@pytest.mark.parametrize(("exc", "status", "sdk_error"), ERRORS, ids=lambda v: type(v).__name__)
async def test_each_error_gets_its_status_and_the_sdk_raises_the_matching_class(
    exc: LLMRingError, status: int, sdk_error: type[openai.APIStatusError]
) -> None:
    assert status_for(exc)[0] == status
    error = api_error(exc)
    assert error.status == status
    reply = Reply.error(error.status, error.body, headers=error.headers)
    async with sdk_client(reply) as (_, client):
        with pytest.raises(sdk_error) as caught:
            await client.chat.completions.create(model="chatbot", messages=USER)
    assert caught.value.status_code == status
    assert caught.value.body == error.body["error"]
    assert error.body["error"]["message"] == (
        str(exc) if isinstance(exc, ProviderError) else exc.message
    )
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "3"


def test_a_provider_error_message_names_the_model_and_the_models_tried() -> None:
    exc = provider(ProviderResponseError, status_code=503)
    exc.attempts.append(("anthropic:claude-haiku-4-5", "overloaded"))
    message = api_error(exc).message
    assert message.startswith("openai:gpt-4o-mini: failed")
    assert "also tried anthropic:claude-haiku-4-5: overloaded" in message


@pytest.mark.parametrize(("seconds", "header"), [(2.5, "3"), (0.0, "0"), (30.0, "30")])
def test_a_rate_limit_sends_retry_after_in_whole_seconds_rounded_up(
    seconds: float, header: str
) -> None:
    exc = provider(ProviderRateLimitError, retry_after=seconds)
    assert status_for(exc) == (429, {"retry-after": header})
    assert api_error(exc).headers == {"retry-after": header}


def test_a_rate_limit_without_advice_sends_no_retry_after() -> None:
    assert status_for(provider(ProviderRateLimitError)) == (429, {})


def test_only_a_rate_limit_sends_headers() -> None:
    assert [
        status_for(exc)[1] for exc, _, _ in ERRORS if exc.__class__ is not ProviderRateLimitError
    ] == [{}] * (len(ERRORS) - 1)


def test_other_exceptions_reach_the_client_as_a_fixed_sentence() -> None:
    error = api_error(KeyError("sk-proj-" + "y" * 30))
    assert (error.status, error.message) == (500, INTERNAL_ERROR)
    assert "y" * 30 not in json.dumps(error.body)


def test_error_bodies_never_hold_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_API_KEY", "upstream-secret-value")
    body = error_body("the key upstream-secret-value was refused", type="authentication_error")
    assert body == {
        "error": {
            "message": "the key *** was refused",
            "type": "authentication_error",
            "param": None,
            "code": None,
        }
    }
    assert "upstream-secret-value" not in str(APIError(401, "x", "bad upstream-secret-value"))


# -- responses ----------------------------------------------------------------------------------


def test_a_text_completion_with_usage_and_cost_parses_as_the_sdks_chat_completion() -> None:
    response = LLMResponse(
        content="London.",
        model="gpt-4o-mini-2024-07-18",
        provider="openai",
        finish_reason="stop",
        usage={
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "total_tokens": 15,
            "cached_tokens": 4,
            "reasoning_tokens": 1,
            "cost": 0.0021,
        },
    )
    body = completion_body(response, model="chatbot", completion_id="chatcmpl-7", created=1700)
    completion = ChatCompletion.model_validate(json.loads(json.dumps(body)))
    assert (completion.id, completion.created, completion.model) == ("chatcmpl-7", 1700, "chatbot")
    [choice] = completion.choices
    assert (choice.message.content, choice.finish_reason) == ("London.", "stop")
    assert choice.message.tool_calls is None
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 3, 15)
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 4
    assert usage.completion_tokens_details
    assert usage.completion_tokens_details.reasoning_tokens == 1
    assert usage.model_extra == {"cost": 0.0021}


def test_a_tool_call_completion_has_null_content_and_no_llmring_provider_data() -> None:
    call: ToolCallDict = {**CALL, "provider_data": {"thought_signature": "abc"}}
    response = LLMResponse(
        model="gemini-2.5-flash",
        finish_reason="tool_calls",
        tool_calls=[call],
        reasoning="The user wants a capital.",
    )
    body = completion_body(response, completion_id="chatcmpl-8", created=1)
    completion = ChatCompletion.model_validate(body)
    assert completion.model == "gemini-2.5-flash"  # the model that answered, by default
    assert completion.usage is None
    [choice] = completion.choices
    assert (choice.message.content, choice.finish_reason) == (None, "tool_calls")
    assert [c.model_dump() for c in choice.message.tool_calls or []] == [CALL]
    assert "provider_data" not in json.dumps(body)
    assert choice.message.model_extra == {"reasoning_content": "The user wants a capital."}


@pytest.mark.parametrize(
    ("reason", "raw", "openai_reason", "native"),
    [
        ("pause", "pause_turn", "length", "pause_turn"),
        ("other", "MALFORMED_FUNCTION_CALL", "stop", "MALFORMED_FUNCTION_CALL"),
        ("other", None, "stop", "other"),
        ("length", "max_tokens", "length", None),
        ("content_filter", "SAFETY", "content_filter", None),
    ],
)
def test_finish_reasons_are_openai_words_and_a_lossy_one_keeps_the_native_word(
    reason: Any, raw: str | None, openai_reason: str, native: str | None
) -> None:
    response = LLMResponse(content="x", finish_reason=reason, finish_reason_raw=raw)
    body = completion_body(response, model="m", completion_id="c", created=1)
    [choice] = ChatCompletion.model_validate(body).choices
    assert choice.finish_reason == openai_reason
    assert (choice.model_extra or {}).get("native_finish_reason") == native


async def test_stream_frames_use_the_same_openai_finish_reason() -> None:
    async def chunks() -> AsyncIterator[StreamChunk]:
        yield StreamChunk(delta="Lon", model="claude")
        yield StreamChunk(model="claude", finish_reason="pause", finish_reason_raw="pause_turn")

    frames = [frame async for frame in openai_frames(chunks(), created=1, completion_id="c")]
    finishes = [
        choice["finish_reason"]
        for frame in frames
        if frame.startswith(b"data: {")
        for choice in json.loads(frame[len(b"data: ") :])["choices"]
    ]
    assert finishes == [None, None, "length"]


def test_importing_llmring_does_not_import_the_server_package() -> None:
    code = "import sys, llmring; print([m for m in sys.modules if m.startswith('llmring.serve')])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_server_package_loads_no_web_framework() -> None:
    code = (
        "import sys, llmring.serve._openai_api; "
        "print([m for m in ('starlette', 'fastapi', 'uvicorn', 'openai') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


async def test_a_stream_cut_after_content_is_told_without_python_attribute_names() -> None:
    # an HTTP client (the browser page, an SDK) has no partial_response attribute to read
    request = LLMRequest(
        model="mock:x?fail=server&fail_after=2&response=one+two+three",
        messages=[Message(role="user", content="Count")],
    )
    async with LLMRing() as ring:
        with pytest.raises(StreamInterruptedError) as caught:
            async for _ in ring.chat_stream(request):
                pass
    assert "partial_response" in caught.value.message  # what a Python caller reads
    assert api_error(caught.value).message == (
        "mock:x: the stream broke after content was delivered (mock: internal server error)"
    )
