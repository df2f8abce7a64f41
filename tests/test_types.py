"""``Usage`` and ``ToolCallDict``: typed for the type checker, plain dicts at run time.

The ``assert_type`` lines are checked by mypy (CI runs it over the tests); at run time they
return their argument. The other assertions pin what pydantic does with the typed fields: it
validates and serialises them exactly as the untyped ``dict[str, Any]`` they replaced.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any, assert_type

import pytest

from llmring import LLMRequest, LLMRing, Message, StreamChunk
from llmring.exceptions import StreamInterruptedError
from llmring.schemas import LLMResponse, ToolCallDict, ToolCallFunction, Usage
from llmring.streaming import StreamingResponse

pytestmark = pytest.mark.plain  # typed in a plain install too (py.typed must be in the wheel)

USAGE: Usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
CALL: ToolCallDict = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
}

#: what pydantic's JSON schema said for these fields before they were typed
PLAIN_DICT = {"additionalProperties": True, "type": "object"}


def test_the_package_is_marked_as_typed() -> None:
    """PEP 561: without ``py.typed`` a type checker ignores llmring's annotations."""
    assert files("llmring").joinpath("py.typed").is_file()


def test_the_fields_are_typed() -> None:
    chunk = StreamChunk(usage=USAGE, tool_calls=[CALL], finish_reason="tool_calls")
    assert_type(chunk.usage, Usage | None)
    assert_type(chunk.tool_calls, list[ToolCallDict] | None)
    response = LLMResponse(usage=USAGE, tool_calls=[CALL])
    assert_type(response.usage, Usage | None)
    assert_type(response.tool_calls, list[ToolCallDict] | None)
    assert_type(response.total_tokens, int | None)
    assert response.total_tokens == 5
    message = Message(role="assistant", tool_calls=[CALL])
    assert_type(message.tool_calls, list[ToolCallDict] | None)
    assert message.tool_calls is not None
    assert_type(message.tool_calls[0]["function"], ToolCallFunction)
    assert_type(StreamInterruptedError("cut", usage=USAGE).usage, Usage | None)


async def test_a_stream_delivers_plain_dicts_of_those_shapes() -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    request = LLMRequest(
        model="mock:x", messages=[Message(role="user", content="hi")], tools=[tool]
    )
    async with LLMRing() as ring:
        response = StreamingResponse()
        async with ring.chat_stream(request) as stream:
            async for chunk in stream:
                response.add_chunk(chunk)
    assert_type(response.usage, Usage | None)
    assert_type(response.tool_calls, list[ToolCallDict] | None)
    assert type(response.usage) is dict and response.usage["total_tokens"] > 0
    assert response.tool_calls is not None
    call = response.tool_calls[0]
    assert type(call) is dict and call["type"] == "function"
    assert json.loads(call["function"]["arguments"]) == {}


def test_pydantic_keeps_them_as_the_plain_dicts_it_is_given() -> None:
    """No coercion, no key dropped, a call without ``type`` still accepted: a ``TypedDict``
    schema would do all three."""
    loose: dict[str, Any] = {"prompt_tokens": "7", "vendor_count": 1}
    chunk = StreamChunk.model_validate({"usage": loose, "tool_calls": [{**CALL, "extra": 1}]})
    assert chunk.usage == loose
    assert chunk.tool_calls == [{**CALL, "extra": 1}]
    untyped_call = {"id": "c", "function": {"name": "f"}}
    message = Message.model_validate({"role": "assistant", "tool_calls": [untyped_call]})
    assert message.tool_calls == [untyped_call]
    dumped = chunk.model_dump(exclude_none=True)
    assert dumped == {"delta": "", "usage": loose, "tool_calls": [{**CALL, "extra": 1}]}


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (StreamChunk, ("usage", "tool_calls")),
        (LLMResponse, ("usage", "tool_calls")),
        (Message, ("tool_calls",)),
    ],
)
def test_the_json_schema_is_the_plain_dicts(model: Any, fields: tuple[str, ...]) -> None:
    properties = model.model_json_schema()["properties"]
    for field in fields:
        [shape, _none] = properties[field]["anyOf"]
        assert shape.get("items", shape) == PLAIN_DICT
