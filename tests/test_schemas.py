"""Requests are validated when built, before any I/O; chunks and responses keep their shape."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from llmring import LLMRequest, Message, StreamChunk
from llmring.schemas import StreamTimeouts, ToolCallDelta

USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"model": "   "}, "model"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": {"idle": -1}}, "idle"),
        ({"tools": [{"type": "retrieval"}]}, "OpenAI function format"),
        ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "name"),
        ({"tool_choice": "required"}, "needs tools"),
        (
            {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}},
            "not among tools",
        ),
        ({"messages": [{"role": "tool", "content": "42"}]}, "tool_call_id"),
        ({"messages": [{"role": "user"}]}, "needs content"),
        (
            {"messages": [{"role": "user", "content": "x", "tool_calls": [{"id": "c"}]}]},
            "only assistant",
        ),
        (
            {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]},
            "'function'",
        ),
        ({"messages": [{"role": "user", "content": [{"text": "no type"}]}]}, "type"),
        ({"unknown_option": 1}, "unknown_option"),
    ],
)
def test_invalid_requests_fail_at_construction(fields: dict[str, Any], complaint: str) -> None:
    data: dict[str, Any] = {"model": "chatbot", "messages": [USER], **fields}
    with pytest.raises(ValidationError) as caught:
        LLMRequest(**data)
    assert complaint in str(caught.value)


def test_a_valid_request_with_everything() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    # plain data, as from JSON: messages as dicts become Message objects
    request = LLMRequest.model_validate(
        {
            "model": " chatbot ",
            "messages": [
                {"role": "system", "content": "be brief"},
                USER,
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "and "},
                        {"type": "text", "text": "then?"},
                    ],
                },
            ],
            "temperature": 0.2,
            "max_tokens": 100,
            "tools": [TOOL],
            "tool_choice": "required",
            "response_format": {"type": "json_object"},
            "timeout": 30,
            "extra_params": {"top_p": 0.9},
        }
    )
    assert request.model == "chatbot"
    assert request.messages[-1].text == "and then?"
    assert request.messages[2].text == ""
    assert request.timeouts == StreamTimeouts(total=30)


def test_timeouts_object() -> None:
    data = {"model": "m:x", "messages": [USER]}
    request = LLMRequest.model_validate({**data, "timeout": {"first_chunk": 2, "idle": 1}})
    assert request.timeouts == StreamTimeouts(first_chunk=2, idle=1)
    assert LLMRequest.model_validate(data).timeouts == StreamTimeouts()


def test_request_deadlines_win_field_by_field_over_the_lockfile_defaults() -> None:
    defaults = StreamTimeouts(total=60, first_chunk=10, idle=5)
    assert StreamTimeouts(first_chunk=2).over(defaults) == StreamTimeouts(
        total=60, first_chunk=2, idle=5
    )
    assert StreamTimeouts(total=0, idle=1).over(defaults) == StreamTimeouts(
        total=0, first_chunk=10, idle=1
    )  # 0 is a deadline, not "unset"
    assert StreamTimeouts().over(defaults) == defaults
    assert StreamTimeouts(idle=3).over(StreamTimeouts()) == StreamTimeouts(idle=3)


@pytest.mark.parametrize(
    ("stop", "complaint"),
    [
        ([], "1 to 4"),
        (["a", "b", "c", "d", "e"], "1 to 4"),
        (["END", ""], "non-empty"),
        ([1], "stop"),
        (7, "stop"),
    ],
)
def test_stop_takes_one_to_four_non_empty_strings(stop: Any, complaint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LLMRequest.model_validate({"model": "m:x", "messages": [USER], "stop": stop})
    [error] = caught.value.errors()
    assert error["loc"][0] == "stop" and complaint in str(caught.value)


def test_stop_sequences_are_kept_and_a_string_is_a_list_of_one() -> None:
    data: dict[str, Any] = {"model": "m:x", "messages": [USER]}
    assert LLMRequest.model_validate(data).stop is None
    assert LLMRequest.model_validate({**data, "stop": "END"}).stop == ["END"]
    # whitespace is a sequence like any other ("\n" stops at the end of a line)
    assert LLMRequest(**data, stop=["\n", "a", "b", "c"]).stop == ["\n", "a", "b", "c"]


def test_extra_params_stop_is_the_stop_field() -> None:
    data: dict[str, Any] = {"model": "m:x", "messages": [USER]}
    extra = {"stop": ["END"], "top_p": 0.5}
    request = LLMRequest.model_validate({**data, "extra_params": extra})
    assert (request.stop, request.extra_params) == (["END"], {"top_p": 0.5})
    assert extra == {"stop": ["END"], "top_p": 0.5}  # the caller's dict is left alone
    assert LLMRequest(**data, extra_params={"stop": "END"}).stop == ["END"]
    assert LLMRequest(**data, extra_params={"stop": None}).extra_params == {}
    with pytest.raises(ValidationError, match="1 to 4"):
        LLMRequest(**data, extra_params={"stop": []})
    with pytest.raises(ValidationError) as caught:
        LLMRequest(**data, stop=["A"], extra_params={"stop": ["B"]})
    assert "extra_params['stop']" in str(caught.value) and "once" in str(caught.value)


def test_stream_chunk_content_alias_and_terminal_flag() -> None:
    # a validation alias, which type checkers cannot see: the keyword works at run time only
    chunk = StreamChunk(content="hello")  # type: ignore[call-arg]
    assert chunk.delta == "hello" and chunk.content == "hello" and not chunk.is_terminal
    terminal = StreamChunk(delta="", finish_reason="stop", usage={"total_tokens": 3})
    assert terminal.is_terminal
    with pytest.raises(ValidationError):
        # raw provider words go in finish_reason_raw
        StreamChunk.model_validate({"finish_reason": "end_turn"})


def test_stream_chunk_metadata_is_a_mapping_never_none() -> None:
    chunk = StreamChunk(delta="hi")
    assert chunk.metadata == {} and chunk.metadata.get("usage") is None
    # None still reads as "no metadata"
    assert StreamChunk.model_validate({"metadata": None}).metadata == {}
    assert StreamChunk(delta="x").metadata is chunk.metadata  # one shared empty mapping
    with pytest.raises(TypeError, match="read-only"):
        chunk.metadata["usage"] = {}  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        chunk.metadata.update(usage={})  # type: ignore[attr-defined]
    assert StreamChunk(delta="y").metadata == {}  # nothing leaked into the shared one
    given = StreamChunk(metadata={"round": 1})
    assert given.metadata == {"round": 1} and given.metadata.get("usage") is None


def test_empty_metadata_serialises_as_before() -> None:
    chunk = StreamChunk(delta="hi", model="m", provider="mock")
    # exclude_none (the CLI's --json lines) leaves an empty metadata out, as it did None
    assert chunk.model_dump(exclude_none=True) == {"delta": "hi", "model": "m", "provider": "mock"}
    assert json.loads(chunk.model_dump_json(exclude_none=True)) == {
        "delta": "hi",
        "model": "m",
        "provider": "mock",
    }
    assert chunk.model_dump()["metadata"] == {} and json.dumps(chunk.metadata) == "{}"
    full = StreamChunk(metadata={"round": 2})
    assert full.model_dump(exclude_none=True) == {"delta": "", "metadata": {"round": 2}}
    # equal however it was built, and a round trip gives the same chunk
    assert (
        StreamChunk() == StreamChunk(metadata={}) == StreamChunk.model_validate({"metadata": None})
    )
    assert StreamChunk.model_validate(chunk.model_dump()) == chunk
    assert StreamChunk.model_validate_json(chunk.model_dump_json()) == chunk
    assert StreamChunk.model_validate_json(full.model_dump_json()) == full
    # copies and pickles keep the shared empty mapping
    for copied in (
        copy.deepcopy(chunk),
        chunk.model_copy(deep=True),
        pickle.loads(pickle.dumps(chunk)),
    ):
        assert copied == chunk and copied.metadata is chunk.metadata
    assert "metadata" in StreamChunk.model_json_schema()["properties"]


def test_tool_call_delta_defaults() -> None:
    assert ToolCallDelta(index=2).model_dump() == {
        "index": 2,
        "id": None,
        "name": None,
        "arguments": "",
    }


def test_message_positional_free_constructor() -> None:
    message = Message(role="user", content="Count to 10")
    assert message.text == "Count to 10" and message.tool_calls is None
