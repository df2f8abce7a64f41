"""StreamingManager: deadlines that count only the source's time, interrupt, closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message, StreamChunk
from llmring.exceptions import ProviderTimeoutError, StreamInterruptedError
from llmring.providers.mock import ledger
from llmring.streaming import ManagedStream, StreamingManager, create_mock_stream

TEXT = "One two three four"  # mock:echo with chunk_size=4: "One ", "two ", "thre", "e fo", "ur"


def request(options: str = "", **kwargs: Any) -> LLMRequest:
    model = "mock:echo?chunk_size=4" + (f"&{options}" if options else "")
    return LLMRequest(model=model, messages=[Message(role="user", content=TEXT)], **kwargs)


async def tracked(
    source: AsyncIterator[StreamChunk], events: list[str]
) -> AsyncIterator[StreamChunk]:
    """``source``, noting in ``events`` when it is first asked and when it is closed."""
    events.append("started")
    try:
        async for chunk in source:
            yield chunk
    finally:
        events.append("closed")


async def read(stream: ManagedStream, into: list[str], pause: float = 0.0) -> None:
    async for chunk in stream:
        into.append(chunk.delta)
        if pause:
            await asyncio.sleep(pause)


async def reading(stream: ManagedStream, into: list[str]) -> asyncio.Task[None]:
    """A consumer task of ``stream``, returned once it has received its first chunk."""
    consumer = asyncio.create_task(read(stream, into))
    while not into:
        await asyncio.sleep(0.005)
    return consumer


# -- deadlines ---------------------------------------------------------------------------------


async def test_a_slow_consumer_does_not_trip_the_deadlines() -> None:
    # every provider wait is ~10 ms; the consumer sleeps 60 ms per chunk, far past both limits
    received: list[str] = []
    async with LLMRing() as ring, StreamingManager(timeout=0.1, idle_timeout=0.04) as manager:
        await read(
            manager.stream_with_timeout(ring.chat_stream(request("delay=0.01"))),
            received,
            pause=0.06,
        )
    assert "".join(received) == TEXT
    assert ledger.last.completed and ledger.last.closed


async def test_a_stalled_provider_trips_the_total_deadline() -> None:
    received: list[str] = []
    async with LLMRing() as ring, StreamingManager(timeout=0.1) as manager:
        stream = manager.stream_with_timeout(
            ring.chat_stream(request("stall_after=2")), stream_id="s1"
        )
        assert manager.active == ["s1"]
        with pytest.raises(StreamInterruptedError) as caught:
            await read(stream, received)
        assert manager.active == []
    assert received == ["One ", "two "]
    assert caught.value.partial_response == "One two " and caught.value.usage is None
    assert "s1" in str(caught.value) and "0.1s total deadline" in str(caught.value)
    assert isinstance(caught.value.__cause__, ProviderTimeoutError)
    assert ledger.last.closed and ledger.last.cancelled and not ledger.last.completed
    assert [c async for c in stream] == []  # stopped for good


async def test_the_total_deadline_sums_the_waits() -> None:
    # the mock sleeps 50 ms before each of 5 chunks: 250 ms of waiting > 120 ms, although no
    # single wait comes near it
    async with LLMRing() as ring, StreamingManager() as manager:
        stream = manager.stream_with_timeout(ring.chat_stream(request("delay=0.05")), 0.12)
        with pytest.raises(StreamInterruptedError) as caught:
            await read(stream, [])
    assert caught.value.partial_response == "One two "
    assert ledger.last.closed


async def test_idle_timeout_between_chunks() -> None:
    async with LLMRing() as ring, StreamingManager(idle_timeout=0.05) as manager:
        with pytest.raises(StreamInterruptedError) as caught:
            await read(manager.stream_with_timeout(ring.chat_stream(request("stall_after=1"))), [])
    assert caught.value.partial_response == "One "
    assert "idle between chunks" in str(caught.value)
    assert ledger.last.closed and ledger.last.cancelled


async def test_idle_timeout_before_the_first_chunk() -> None:
    events: list[str] = []
    async with StreamingManager() as manager:
        stream = manager.stream_with_timeout(
            tracked(create_mock_stream(TEXT, delay=1), events), idle_timeout=0.03
        )
        with pytest.raises(StreamInterruptedError) as caught:
            await read(stream, [])
        assert events == ["started", "closed"]  # closed before the error reached the consumer
    assert caught.value.partial_response == ""
    assert "first chunk" in str(caught.value)


async def test_timeout_zero_expires_at_the_first_wait() -> None:
    events: list[str] = []
    async with StreamingManager(timeout=0) as manager:
        # the source could answer without waiting at all; 0 still means "no time"
        stream = manager.stream_with_timeout(tracked(create_mock_stream(TEXT, delay=0), events))
        with pytest.raises(StreamInterruptedError) as caught:
            await anext(stream)
        assert events == []  # never asked for anything
        assert caught.value.partial_response == ""
        # a per-call timeout overrides the manager's default
        other = manager.stream_with_timeout(create_mock_stream(TEXT, delay=0), 5)
        assert "".join([c.delta async for c in other]) == TEXT


async def test_the_sources_own_errors_pass_unchanged() -> None:
    # ChatStream's own first-chunk deadline raises ProviderTimeoutError; the manager's is longer
    async with LLMRing() as ring, StreamingManager(timeout=5) as manager:
        source = ring.chat_stream(request("delay=1", timeout={"first_chunk": 0.03}))
        with pytest.raises(ProviderTimeoutError, match="first chunk"):
            await read(manager.stream_with_timeout(source), [])
        failing = ring.chat_stream(request("fail=server&fail_after=1"))
        with pytest.raises(StreamInterruptedError) as caught:
            await read(manager.stream_with_timeout(failing, stream_id="mine"), [])
    assert "mine" not in str(caught.value) and "internal server error" in str(caught.value)
    assert caught.value.partial_response == "One "
    assert all(record.closed for record in ledger.records)


# -- interrupt ---------------------------------------------------------------------------------


async def test_interrupt_from_another_task_stops_a_blocked_consumer() -> None:
    received: list[str] = []
    async with LLMRing() as ring, StreamingManager(timeout=10) as manager:
        stream = manager.stream_with_timeout(
            ring.chat_stream(request("stall_after=2")), stream_id="chat-1"
        )
        consumer = asyncio.create_task(read(stream, received))
        while len(received) < 2:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)  # the consumer now waits on the stalled provider
        assert manager.interrupt("chat-1") is True
        with pytest.raises(StreamInterruptedError) as caught:
            await consumer
        assert manager.interrupt("chat-1") is False
        assert manager.interrupt("nobody") is False
        assert manager.active == []
    assert caught.value.partial_response == "One two "
    assert "interrupted" in str(caught.value)
    assert ledger.last.closed and ledger.last.cancelled


async def test_interrupt_without_a_deadline() -> None:
    received: list[str] = []
    async with LLMRing() as ring, StreamingManager() as manager:
        stream = manager.stream_with_timeout(ring.chat_stream(request("stall_after=1")))
        consumer = await reading(stream, received)
        assert manager.interrupt(stream.stream_id)
        with pytest.raises(StreamInterruptedError) as caught:
            await consumer
    assert caught.value.partial_response == "One "
    assert ledger.last.closed


async def test_interrupt_between_chunks_closes_the_source_at_once() -> None:
    async with LLMRing() as ring, StreamingManager() as manager:
        stream = manager.stream_with_timeout(ring.chat_stream(request()))
        assert (await anext(stream)).delta == "One "
        assert manager.interrupt(stream.stream_id)
        for _ in range(5):
            await asyncio.sleep(0)
        assert ledger.last.closed and not ledger.last.completed  # before the next wait
        with pytest.raises(StreamInterruptedError) as caught:
            await anext(stream)
        assert caught.value.partial_response == "One "
        await stream.aclose()


async def test_aclose_from_another_task_interrupts_the_consumer_waiting_or_not() -> None:
    async with LLMRing() as ring, StreamingManager() as manager:
        waiting: list[str] = []
        stream = manager.stream_with_timeout(ring.chat_stream(request("stall_after=1")))
        consumer = await reading(stream, waiting)
        await asyncio.sleep(0.01)  # it waits on the stalled provider
        await stream.aclose()
        assert ledger.last.closed and manager.active == []
        with pytest.raises(StreamInterruptedError) as caught:
            await consumer
        assert caught.value.partial_response == "One " == "".join(waiting)

        between = manager.stream_with_timeout(ring.chat_stream(request()))
        assert (await asyncio.create_task(anext(between))).delta == "One "  # another task
        await between.aclose()
        with pytest.raises(StreamInterruptedError) as caught:
            await anext(between)  # its next read is told, once
        assert caught.value.partial_response == "One "
        with pytest.raises(StopAsyncIteration):
            await anext(between)


# -- closing -----------------------------------------------------------------------------------


async def test_leaving_the_manager_closes_running_streams() -> None:
    received: list[str] = []
    async with LLMRing() as ring:
        async with StreamingManager() as manager:
            idle = manager.stream_with_timeout(ring.chat_stream(request()))
            assert (await anext(idle)).delta == "One "
            busy = manager.stream_with_timeout(ring.chat_stream(request("stall_after=1")))
            consumer = await reading(busy, received)
            assert len(manager.active) == 2
        assert manager.active == []
        assert [r.closed for r in ledger.records] == [True, True]
        assert not any(r.completed for r in ledger.records)
        with pytest.raises(StreamInterruptedError, match="StreamingManager was closed"):
            await consumer
        with pytest.raises(StreamInterruptedError) as caught:
            await anext(idle)
    assert caught.value.partial_response == "One "


async def test_a_completed_stream_just_ends_when_the_manager_closes() -> None:
    async with StreamingManager() as manager:
        stream = manager.stream_with_timeout(create_mock_stream("ab", chunk_size=1, delay=0))
        assert [(await anext(stream)).delta for _ in range(3)] == ["a", "b", ""]
    assert [c async for c in stream] == []
    assert stream.response.is_complete and str(stream.response) == "ab"


async def test_external_cancellation_propagates_and_closes_the_source() -> None:
    received: list[str] = []
    async with LLMRing() as ring, StreamingManager(timeout=10, idle_timeout=5) as manager:
        stream = manager.stream_with_timeout(ring.chat_stream(request("stall_after=1")))
        consumer = await reading(stream, received)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert manager.active == []
    assert ledger.last.closed and ledger.last.cancelled


async def test_a_cancellation_racing_an_interrupt_still_propagates() -> None:
    received: list[str] = []
    async with LLMRing() as ring, StreamingManager() as manager:
        stream = manager.stream_with_timeout(ring.chat_stream(request("stall_after=1")))
        consumer = await reading(stream, received)
        assert manager.interrupt(stream.stream_id)
        consumer.cancel()  # in the same tick: the task's own cancellation must win
        with pytest.raises(asyncio.CancelledError):
            await consumer
    assert ledger.last.closed


async def test_aclose_is_idempotent_and_ids_are_unique() -> None:
    events: list[str] = []
    async with StreamingManager() as manager:
        async with manager.stream_with_timeout(
            tracked(create_mock_stream(TEXT, delay=0), events), stream_id="x"
        ) as stream:
            with pytest.raises(ValueError, match="already running"):
                manager.stream_with_timeout(create_mock_stream(TEXT), stream_id="x")
            assert (await anext(stream)).delta == "One two th"
        await stream.aclose()
        assert events == ["started", "closed"]
        assert manager.active == []
        with pytest.raises(StopAsyncIteration):
            await anext(stream)


def test_bad_deadlines_are_rejected() -> None:
    with pytest.raises(ValueError, match="timeout"):
        StreamingManager(timeout=-1)
    with pytest.raises(ValueError, match="idle_timeout"):
        StreamingManager(idle_timeout=float("nan"))
