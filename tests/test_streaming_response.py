"""StreamingResponse, collect_stream, stream_to_string and create_mock_stream."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message, StreamChunk
from llmring.exceptions import StreamInterruptedError
from llmring.providers.mock import ledger
from llmring.streaming import (
    StreamingResponse,
    collect_stream,
    create_mock_stream,
    stream_to_string,
)

REPLY = "One two three. Four five six! Seven?"
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def request(model: str = "mock:echo?chunk_size=4", **kwargs: Any) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content=REPLY)], **kwargs)


async def deltas(stream: AsyncIterator[StreamChunk]) -> list[str]:
    return [chunk.delta async for chunk in stream]


# -- create_mock_stream ------------------------------------------------------------------------


async def test_mock_stream_exact_chunks() -> None:
    chunks = [c async for c in create_mock_stream("Test response text", chunk_size=5, delay=0)]
    assert [c.delta for c in chunks] == ["Test ", "respo", "nse t", "ext", ""]
    assert [c.finish_reason for c in chunks] == [None, None, None, None, "stop"]
    terminal = chunks[-1]
    assert terminal.is_terminal and terminal.model == "mock-stream"
    assert terminal.usage == {"prompt_tokens": 0, "completion_tokens": 3, "total_tokens": 3}
    assert all(c.usage is None for c in chunks[:-1])


async def test_mock_stream_default_chunk_size_and_empty_text() -> None:
    assert await deltas(create_mock_stream("0123456789abc", delay=0)) == ["0123456789", "abc", ""]
    only = [c async for c in create_mock_stream("", delay=0)]
    assert len(only) == 1 and only[0].is_terminal
    assert only[0].usage == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"chunk_size": 0},
        {"chunk_size": -2},
        {"chunk_size": 1.5},
        {"delay": -0.01},
        {"delay": math.nan},
    ],
)
def test_mock_stream_rejects_bad_arguments_at_call_time(kwargs: dict[str, float]) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        create_mock_stream("text", **kwargs)  # type: ignore[arg-type]


async def test_mock_stream_waits_before_each_chunk() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await deltas(create_mock_stream("abcdef", chunk_size=2, delay=0.02)) == [
        "ab",
        "cd",
        "ef",
        "",
    ]
    assert loop.time() - started >= 0.06


async def test_mock_stream_closes() -> None:
    stream = create_mock_stream("abcdef", chunk_size=2, delay=0)
    assert (await anext(stream)).delta == "ab"
    await stream.aclose()
    assert await deltas(stream) == []


# -- StreamingResponse -------------------------------------------------------------------------


async def test_response_fields_follow_the_chunks() -> None:
    response = StreamingResponse("abc123")
    assert (response.duration, response.first_chunk_latency, response.finish_reason) == (
        None,
        None,
        None,
    )
    async for chunk in create_mock_stream("Test response text", chunk_size=5, delay=0.01):
        response.add_chunk(chunk)
        if not chunk.is_terminal:
            assert response.duration is None and not response.is_complete
    assert response.stream_id == "abc123"
    assert response.complete_text == str(response) == "Test response text"
    assert [c.delta for c in response.chunks] == ["Test ", "respo", "nse t", "ext", ""]
    assert response.chunk_count == 5 and response.is_complete
    assert response.finish_reason == "stop" and response.model == "mock-stream"
    assert response.usage == {"prompt_tokens": 0, "completion_tokens": 3, "total_tokens": 3}
    assert response.tool_calls is None
    assert response.first_chunk_latency is not None and response.first_chunk_latency >= 0.01
    assert response.duration is not None and response.duration >= 0.03  # three more delays
    with pytest.raises(ValueError, match="already ended"):
        response.add_chunk(StreamChunk(delta="late"))


def test_response_generates_distinct_ids_and_a_short_repr() -> None:
    first, second = StreamingResponse(), StreamingResponse()
    assert len(first.stream_id) == 32 and first.stream_id != second.stream_id
    first.add_chunk(StreamChunk(delta="x" * 10_000))
    text = repr(first)
    assert len(text) < 150 and "chunks=1" in text and "chars=10000" in text


def test_response_without_chunks_keeps_text_and_count() -> None:
    response = StreamingResponse(keep_chunks=False)
    for n in range(1000):
        response.add_chunk(StreamChunk(delta=f"{n},"))
        if n == 500:
            assert response.complete_text.endswith("500,")  # a read mid-stream changes nothing
    response.add_chunk(StreamChunk(finish_reason="stop"))
    assert response.chunks == []
    assert response.chunk_count == 1001
    assert response.complete_text == "".join(f"{n}," for n in range(1000))


# -- collect_stream and stream_to_string -------------------------------------------------------


async def test_collect_a_chat_stream() -> None:
    async with LLMRing() as ring:
        response = await collect_stream(ring.chat_stream(request()), stream_id="s1")
        reply = await ring.chat(request())
    assert response.complete_text == REPLY == reply.content
    assert [c.delta for c in response.chunks[:3]] == ["One ", "two ", "thre"]
    assert response.chunk_count == len(response.chunks) == math.ceil(len(REPLY) / 4) + 1
    assert (response.provider, response.model, response.finish_reason) == ("mock", "echo", "stop")
    assert (
        response.usage
        == reply.usage
        == {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    )
    assert response.metadata is not None and "duration" in response.metadata
    assert response.duration is not None and response.first_chunk_latency is not None
    assert ledger.last.completed and ledger.last.closed


async def test_collect_takes_the_tool_calls_of_the_terminal_chunk() -> None:
    async with LLMRing() as ring:
        response = await collect_stream(ring.chat_stream(request("mock:agent", tools=[TOOL])))
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls == [
        {
            "id": "call_mock_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "mock"}'},
        }
    ]
    assert response.complete_text == ""


async def test_stream_to_string() -> None:
    assert await stream_to_string(create_mock_stream(REPLY, chunk_size=3, delay=0)) == REPLY
    async with LLMRing() as ring:
        assert await stream_to_string(ring.chat_stream(request())) == REPLY


async def test_collect_closes_the_stream_when_it_fails() -> None:
    async with LLMRing() as ring:
        with pytest.raises(StreamInterruptedError) as caught:
            await stream_to_string(ring.chat_stream(request("mock:echo?fail=server&fail_after=2")))
    assert caught.value.partial_response == "One two"
    assert ledger.last.closed and not ledger.last.completed


async def test_collect_closes_the_iterator_of_an_iterable() -> None:
    events: list[str] = []

    async def source() -> AsyncIterator[StreamChunk]:
        try:
            yield StreamChunk(finish_reason="stop")
            yield StreamChunk(delta="after the end")  # add_chunk refuses it
            yield StreamChunk(delta="never reached")
        finally:
            events.append("closed")

    class Iterable:  # no aclose of its own: its iterator's is used
        def __aiter__(self) -> AsyncIterator[StreamChunk]:
            return source()

    with pytest.raises(ValueError, match="already ended"):
        await collect_stream(Iterable())
    assert events == ["closed"]


async def test_cancelling_a_collection_closes_the_provider_stream() -> None:
    async with LLMRing() as ring:
        task = asyncio.create_task(collect_stream(ring.chat_stream(request("mock:echo?delay=1"))))
        while not ledger.records:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert ledger.last.closed and ledger.last.cancelled
