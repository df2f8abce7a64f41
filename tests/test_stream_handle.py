"""The one stream handle (``llmring._handle``) under every stream llmring hands out: one busy
error, and a close from another task that leaves the consumer's task as it found it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message, StreamChunk
from llmring.agents import Agent
from llmring.exceptions import LLMRingError, StreamBusyError, StreamInterruptedError
from llmring.streaming import StreamingManager, create_mock_stream, stream_with_chunking

SLOW = "mock:echo?delay=0.2"


def request(model: str = SLOW) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content="one two three")])


Make = Callable[[LLMRing, StreamingManager], Any]

HANDLES: dict[str, Make] = {
    "ChatStream": lambda ring, _: ring.chat_stream(request()),
    "AgentStream": lambda ring, _: Agent(model=SLOW, ring=ring).stream("one two three"),
    "ManagedStream": lambda ring, m: m.stream_with_timeout(ring.chat_stream(request())),
    "GenerationThunk": lambda ring, _: ring.generate(request()),
}


@pytest.mark.parametrize("name", list(HANDLES))
async def test_every_handle_raises_the_one_busy_error(name: str) -> None:
    async with LLMRing() as ring, StreamingManager() as manager:
        handle = HANDLES[name](ring, manager)
        first = asyncio.create_task(anext(handle))
        await asyncio.sleep(0.01)  # the first reader now waits
        with pytest.raises(StreamBusyError, match=f"{name} has one consumer") as caught:
            await anext(handle)
        assert isinstance(caught.value, LLMRingError) and isinstance(caught.value, RuntimeError)
        item = await first
        assert (item if isinstance(item, str) else item.delta) == "one"
        await handle.aclose()


async def test_a_chunked_streams_view_read_twice_is_the_same_error() -> None:
    stream = stream_with_chunking(create_mock_stream("A. B.", delay=0), "sentence")
    chunks = stream.astream()
    with pytest.raises(StreamBusyError, match=r"astream\(\) was already called"):
        stream.astream()
    assert [c async for c in chunks] == ["A. ", "B."]


async def test_the_consumers_task_is_left_as_it_was_after_the_interruption() -> None:
    # The close cancels the consumer's wait and takes that cancellation back (Task.uncancel):
    # the consumer's task carries on, its own deadlines working as before.
    seen: dict[str, Any] = {}

    async def consume(stream: AsyncIterator[StreamChunk]) -> None:
        try:
            async for chunk in stream:
                seen["first"] = chunk.delta
        except StreamInterruptedError as exc:
            seen["error"] = exc
        task = asyncio.current_task()
        assert task is not None
        seen["cancelling"] = task.cancelling()
        async with asyncio.timeout(0.01):  # would misfire if a cancellation were left over
            await asyncio.sleep(0)

    async with LLMRing() as ring:
        stream = ring.chat_stream(request("mock:echo?stall_after=1"))
        consumer = asyncio.create_task(consume(stream))
        while "first" not in seen:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.005)
        await stream.aclose()
        await consumer
    assert seen["cancelling"] == 0 and seen["error"].partial_response == "one"


async def test_a_source_that_swallows_the_cancellation_is_still_stopped() -> None:
    closed: list[str] = []

    async def stubborn() -> AsyncIterator[StreamChunk]:
        try:
            yield StreamChunk(delta="a")
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                pass  # a source that ignores cancellation and answers anyway
            yield StreamChunk(delta="b")
        finally:
            closed.append("source")

    received: list[str] = []

    async def consume(stream: AsyncIterator[StreamChunk]) -> int:
        try:
            async for chunk in stream:
                received.append(chunk.delta)
        except StreamInterruptedError:
            pass
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    async with StreamingManager() as manager:
        stream = manager.stream_with_timeout(stubborn())
        consumer = asyncio.create_task(consume(stream))
        while not received:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.005)
        await stream.aclose()  # returns: the consumer closed the source
        assert closed == ["source"]
        assert await consumer == 0
    assert received == ["a"]
