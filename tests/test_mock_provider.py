"""The mock provider's documented behaviour: replies, options, usage, failures, tools."""

from __future__ import annotations

from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring.exceptions import (
    ConfigurationError,
    ModelNotFoundError,
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from llmring.providers.mock import count_tokens, ledger
from llmring.schemas import ToolCallDict


def req(model: str, text: str = "hello mock", **kwargs: Any) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content=text)], **kwargs)


async def test_echo_returns_the_last_user_message() -> None:
    request = LLMRequest(
        model="mock:echo",
        messages=[
            Message(role="user", content="first"),
            Message(role="assistant", content="ok"),
            Message(role="user", content="second one"),
        ],
    )
    async with LLMRing() as ring:
        assert (await ring.chat(request)).content == "second one"


async def test_named_models_give_a_deterministic_multi_sentence_text() -> None:
    async with LLMRing() as ring:
        one = await ring.chat(req("mock:writer"))
        two = await ring.chat(req("mock:writer", "something else"))
    assert one.content == two.content
    assert one.content.startswith("Hello! This is mock:writer") and one.content.count(". ") >= 2
    assert one.usage == {
        "prompt_tokens": 2,
        "completion_tokens": count_tokens(one.content),
        "total_tokens": 2 + count_tokens(one.content),
    }


async def test_mock_response_streams_exactly_that_text() -> None:
    text = "  Exactly\nthis,  text.\n"
    async with LLMRing() as ring:
        chunks = [
            c async for c in ring.chat_stream(req("mock:any", extra_params={"mock_response": text}))
        ]
    assert "".join(c.delta for c in chunks) == text


async def test_chunk_size_splits_by_characters() -> None:
    async with LLMRing() as ring:
        chunks = [c async for c in ring.chat_stream(req("mock:echo?chunk_size=4", "abcdefghij"))]
    assert [c.delta for c in chunks[:-1]] == ["abcd", "efgh", "ij"]


async def test_extra_params_options_override_the_model_name() -> None:
    async with LLMRing() as ring:
        chunks = [
            c
            async for c in ring.chat_stream(
                req("mock:echo?chunk_size=4", "abcdefghij", extra_params={"mock_chunk_size": 5})
            )
        ]
    assert [c.delta for c in chunks[:-1]] == ["abcde", "fghij"]


@pytest.mark.parametrize(
    ("stop", "max_tokens", "content", "finish"),
    [
        # the earliest match in the text wins, whichever sequence it is in the list
        (["Three", "Two"], None, "One. ", "stop"),
        (["\n"], None, "One. Two.", "stop"),
        (["One"], None, "", "stop"),
        (["absent"], None, "One. Two.\nThree.", "stop"),
        # max_tokens before the stop sequence: cut there, with "length"
        (["Three"], 2, "One.", "length"),
        (["Two"], 9, "One. ", "stop"),
    ],
)
async def test_the_reply_ends_just_before_the_first_stop_sequence(
    stop: list[str], max_tokens: int | None, content: str, finish: str
) -> None:
    options = {"mock_response": "One. Two.\nThree.", "mock_chunk_size": 3}
    async with LLMRing() as ring:
        request = req("mock:x", stop=stop, max_tokens=max_tokens, extra_params=options)
        chunks = [c async for c in ring.chat_stream(request)]
    terminal = chunks[-1]
    assert "".join(c.delta for c in chunks) == content
    assert (terminal.finish_reason, terminal.finish_reason_raw) == (finish, finish)
    assert terminal.usage is not None
    assert terminal.usage["completion_tokens"] == count_tokens(content)


async def test_stop_sequences_apply_to_the_reply_not_the_reasoning() -> None:
    options = {"mock_response": "a. b.", "mock_reasoning": "think. b. done"}
    async with LLMRing() as ring:
        response = await ring.chat(req("mock:x", stop=[" b"], extra_params=options))
    assert (response.reasoning, response.content) == ("think. b. done", "a.")


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("rate_limit", ProviderRateLimitError, 429),
        ("auth", ProviderAuthenticationError, 401),
        ("not_found", ModelNotFoundError, 404),
        ("server", ProviderResponseError, 500),
        ("overloaded", ProviderResponseError, 529),
        ("bad_request", ProviderResponseError, 400),
        ("timeout", ProviderTimeoutError, None),
        ("connection", ProviderConnectionError, None),
    ],
)
async def test_simulated_failures(kind: str, error: type[Exception], status: int | None) -> None:
    async with LLMRing() as ring:
        with pytest.raises(error) as caught:
            await ring.chat(req(f"mock:x?fail={kind}"))
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.provider == "mock" and caught.value.model == f"x?fail={kind}"  # type: ignore[attr-defined]
    assert ledger.last.closed and ledger.last.chunks_sent == 0


@pytest.mark.parametrize(
    ("model", "complaint"),
    [
        ("mock:x?speed=3", "unknown mock option 'speed'"),
        ("mock:x?fail=meteor", "unknown mock failure 'meteor'"),
        ("mock:x?delay=soon", "delay='soon' is not a number"),
    ],
)
async def test_bad_options_are_configuration_errors(model: str, complaint: str) -> None:
    async with LLMRing() as ring:
        with pytest.raises(ConfigurationError, match=complaint):
            await ring.chat(req(model))


async def test_tool_choice_names_the_tool_and_none_disables_tools() -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": n,
                "parameters": {
                    "type": "object",
                    "properties": {
                        "q": {"type": "string", "enum": ["x", "y"]},
                        "n": {"type": "integer"},
                    },
                },
            },
        }
        for n in ("a", "b")
    ]
    async with LLMRing() as ring:
        picked = await ring.chat(
            req("mock:t", tools=tools, tool_choice={"type": "function", "function": {"name": "b"}})
        )
        none = await ring.chat(req("mock:echo", "plain", tools=tools, tool_choice="none"))
    assert picked.tool_calls is not None
    assert picked.tool_calls[0]["function"] == {"name": "b", "arguments": '{"q": "x", "n": 1}'}
    assert none.content == "plain" and none.tool_calls is None and none.finish_reason == "stop"


async def test_after_a_tool_result_the_mock_answers_in_text() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    call: ToolCallDict = {
        "id": "call_mock_0",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
    }
    request = LLMRequest(
        model="mock:t",
        tools=[tool],
        messages=[
            Message(role="user", content="go"),
            Message(role="assistant", tool_calls=[call]),
            Message(role="tool", tool_call_id="call_mock_0", content="sunny"),
        ],
    )
    async with LLMRing() as ring:
        response = await ring.chat(request)
    assert response.content == "The tool returned: sunny" and response.finish_reason == "stop"
