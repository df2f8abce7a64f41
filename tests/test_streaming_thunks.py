"""Background generations: ``LLMRing.generate`` / ``GenerationThunk`` and ``wait_for_all``."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring.exceptions import AliasNotFoundError, StreamBusyError, StreamInterruptedError
from llmring.providers.mock import ledger
from llmring.streaming import (
    GenerationClosedError,
    GenerationErrors,
    GenerationThunk,
    generate,
    wait_for_all,
)

TEXT = "one two three four five six seven eight"  # eight word chunks from the mock


def req(model: str = "mock:echo", text: str = TEXT, **kwargs: Any) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content=text)], **kwargs)


@pytest.fixture
async def ring() -> AsyncIterator[LLMRing]:
    async with LLMRing() as ring:
        yield ring


# -- starting -------------------------------------------------------------------------------


async def test_generate_returns_before_any_chunk_and_runs_in_the_background(ring: LLMRing) -> None:
    started = time.perf_counter()
    thunk = ring.generate(req("mock:echo?delay=0.05"))
    assert isinstance(thunk, GenerationThunk)
    assert time.perf_counter() - started < 0.04
    assert not thunk.is_computed() and thunk.text_so_far == ""
    await asyncio.sleep(0.18)  # nobody reads, yet the generation moves on
    assert 1 <= ledger.last.chunks_sent < 8
    assert thunk.text_so_far and TEXT.startswith(thunk.text_so_far)
    assert await thunk.avalue() == TEXT
    assert thunk.is_computed()


async def test_the_module_function_is_the_same_as_the_method(ring: LLMRing) -> None:
    assert await generate(ring, req()).avalue() == TEXT


def test_generate_without_a_running_loop_says_so() -> None:
    ring = LLMRing()
    with pytest.raises(RuntimeError, match="running event loop"):
        ring.generate(req())
    assert ledger.records == []


async def test_an_unknown_alias_raises_at_once(ring: LLMRing) -> None:
    with pytest.raises(AliasNotFoundError):
        ring.generate(req("no-such-alias"))


async def test_buffer_must_be_positive(ring: LLMRing) -> None:
    with pytest.raises(ValueError, match="buffer"):
        ring.generate(req(), buffer=0)


# -- reading --------------------------------------------------------------------------------


async def test_avalue_and_response(ring: LLMRing) -> None:
    thunk = ring.generate(req())
    with pytest.raises(RuntimeError, match="still running"):
        _ = thunk.response
    assert await thunk.avalue() == TEXT
    assert await thunk.avalue() == TEXT  # a value: read it again
    response = thunk.response
    assert response.content == TEXT and response.finish_reason == "stop"
    assert response.usage is not None and response.usage["completion_tokens"] == 8
    assert thunk.text_so_far == TEXT
    assert ledger.last.completed and ledger.last.closed


async def test_response_carries_tool_calls(ring: LLMRing) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    thunk = ring.generate(req("mock:x", tools=[tool]))
    assert await thunk.avalue() == ""
    assert thunk.response.finish_reason == "tool_calls"
    calls = thunk.response.tool_calls
    assert calls is not None and calls[0]["function"]["name"] == "lookup"


async def test_astream_returns_the_first_text_without_waiting_for_the_rest(ring: LLMRing) -> None:
    delay = 0.05
    thunk = ring.generate(req(f"mock:echo?delay={delay}"))
    started = time.perf_counter()
    first = await thunk.astream()
    waited = time.perf_counter() - started
    assert first and TEXT.startswith(first)
    assert waited < 8 * delay / 2  # about one chunk's delay, far from the whole stream's
    assert not thunk.is_computed()
    await thunk.aclose()


async def test_astream_pieces_join_into_the_whole_text_and_end_with_empty(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?delay=0.01&chunk_size=3"))
    pieces = []
    while piece := await thunk.astream():
        pieces.append(piece)
        await asyncio.sleep(0.025)  # a slower reader gets several chunks per call
    assert "".join(pieces) == TEXT
    assert len(pieces) < len(range(0, len(TEXT), 3))  # some calls returned more than one chunk
    assert thunk.is_computed()
    assert await thunk.astream() == ""  # the end stays the end


async def test_async_for_yields_one_delta_per_chunk(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?chunk_size=4", "abcdefghij"))
    assert [delta async for delta in thunk] == ["abcd", "efgh", "ij"]
    assert [delta async for delta in thunk] == []  # everything was read
    assert await thunk.avalue() == "abcdefghij"


async def test_astream_after_iteration_continues_from_the_same_cursor(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?chunk_size=4", "abcdefghij"))
    assert await anext(thunk) == "abcd"
    await thunk.avalue()
    assert await thunk.astream() == "efghij"
    assert await thunk.astream() == ""


async def test_two_concurrent_readers_are_an_error_not_a_hang(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?delay=0.05"))
    first = asyncio.create_task(thunk.astream())
    await asyncio.sleep(0)  # the first reader is now waiting
    with pytest.raises(StreamBusyError, match="GenerationThunk has one consumer"):
        await thunk.astream()
    with pytest.raises(StreamBusyError, match="GenerationThunk has one consumer"):
        await anext(thunk)
    assert TEXT.startswith(await first)
    # avalue is not a reader: any number of tasks may await it alongside
    values = await asyncio.gather(thunk.avalue(), thunk.avalue(), thunk.astream())
    assert values[0] == values[1] == TEXT


# -- mellea's reading loop: is_computed() once the reader has everything ------------------


async def test_the_mellea_loop_reads_everything_when_the_reader_is_slower(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?chunk_size=4&delay=0.002", "abcdefghijklmnop"))
    text = ""
    while not thunk.is_computed():  # mellea's seed, as it is
        text += await thunk.astream()
        await asyncio.sleep(0.05)  # the provider finishes while the reader is busy
    assert text == "abcdefghijklmnop"


async def test_done_is_the_end_of_the_generation_is_computed_the_end_of_the_reading(
    ring: LLMRing,
) -> None:
    thunk = ring.generate(req())
    while not thunk.done():
        await asyncio.sleep(0.001)
    assert not thunk.is_computed() and thunk.value is None  # finished, but nothing was read
    assert thunk.response.content == TEXT  # the assembled reply is there once it is done
    assert await thunk.astream() == TEXT  # the read that consumes the end
    assert thunk.is_computed() and thunk.value == TEXT
    assert "computed" in repr(thunk)


async def test_value_is_none_until_avalue_returns(ring: LLMRing) -> None:
    first = ring.generate(req("mock:echo?delay=0.01", "first one"))
    second = ring.generate(req("mock:echo?delay=0.01", "second one"))
    assert (first.is_computed(), first.value) == (False, None)  # mellea's parallel generation
    await asyncio.gather(first.avalue(), second.avalue())
    assert first.is_computed() and (first.value, second.value) == ("first one", "second one")


async def test_the_mellea_loop_raises_a_failure_after_the_text_before_it(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?fail=server&fail_after=2"))
    text = ""
    with pytest.raises(StreamInterruptedError):
        while not thunk.is_computed():
            text += await thunk.astream()
            await asyncio.sleep(0.01)
    assert text == "one two"
    assert thunk.is_computed()  # the read that raised consumed the end
    with pytest.raises(StreamInterruptedError):
        _ = thunk.value


async def test_async_for_to_the_end_computes_the_thunk(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?chunk_size=4", "abcdefghij"))
    assert [delta async for delta in thunk] == ["abcd", "efgh", "ij"]
    assert thunk.is_computed() and thunk.value == "abcdefghij"


# -- back-pressure --------------------------------------------------------------------------


async def test_a_slow_reader_keeps_the_producer_within_the_buffer(ring: LLMRing) -> None:
    words = " ".join(f"w{i}" for i in range(60))
    thunk = ring.generate(req("mock:echo", words), buffer=4)
    await asyncio.sleep(0.05)  # the provider is instant: without a bound it would be done
    assert ledger.last.chunks_sent <= 4 + 1
    assert not thunk.is_computed()
    read = 0
    async for _ in thunk:
        read += 1
        await asyncio.sleep(0.002)
        assert ledger.last.chunks_sent <= read + 4 + 1
    assert read == 60 and ledger.last.completed


async def test_avalue_lifts_the_bound_so_it_cannot_deadlock(ring: LLMRing) -> None:
    words = " ".join(f"w{i}" for i in range(50))
    thunk = ring.generate(req("mock:echo", words), buffer=2)
    assert await asyncio.wait_for(thunk.avalue(), 5) == words


# -- errors ---------------------------------------------------------------------------------


async def test_a_failure_after_content_surfaces_through_every_reader(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?fail=server&fail_after=2"))
    with pytest.raises(StreamInterruptedError) as caught:
        await thunk.avalue()
    assert caught.value.partial_response == "one two"
    with pytest.raises(StreamInterruptedError):
        _ = thunk.response
    assert thunk.is_computed() and thunk.text_so_far == "one two"
    # a reader first gets the text that did arrive, then the error
    deltas = []
    with pytest.raises(StreamInterruptedError):
        async for delta in thunk:
            deltas.append(delta)
    assert deltas == ["one", " two"]
    with pytest.raises(StreamInterruptedError):
        await thunk.astream()
    assert ledger.last.closed


async def test_a_failure_nobody_reads_is_never_reported_as_unretrieved(ring: LLMRing) -> None:
    reported: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        thunk = ring.generate(req("mock:echo?fail=server&fail_after=1"))
        while not thunk.done():
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)  # let the task's done callbacks run
        del thunk
        gc.collect()  # an unretrieved task exception is reported when the task is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert reported == []


# -- closing and cancellation --------------------------------------------------------------


async def test_aclose_closes_the_provider_stream_and_is_idempotent(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?delay=0.05"))
    assert await thunk.astream()
    await thunk.aclose()
    record = ledger.last
    assert record.closed and not record.completed and record.chunks_sent < 8
    assert thunk.is_computed()
    await thunk.aclose()
    with pytest.raises(GenerationClosedError):
        await thunk.avalue()
    with pytest.raises(GenerationClosedError):
        await thunk.astream()


async def test_aclose_while_the_producer_waits_on_the_buffer(ring: LLMRing) -> None:
    thunk = ring.generate(req(), buffer=1)
    await asyncio.sleep(0.01)
    assert ledger.last.chunks_sent == 1
    await thunk.aclose()
    assert ledger.last.closed and not ledger.last.completed


async def test_aclose_before_the_task_ever_ran(ring: LLMRing) -> None:
    thunk = ring.generate(req())
    await thunk.aclose()
    assert thunk.is_computed()
    with pytest.raises(GenerationClosedError):
        await thunk.avalue()
    assert ledger.records == []  # the provider was never called


async def test_aclose_after_completion_keeps_the_value(ring: LLMRing) -> None:
    async with ring.generate(req()) as thunk:
        assert await thunk.avalue() == TEXT
    assert await thunk.avalue() == TEXT and thunk.response.content == TEXT


async def test_a_blocked_reader_learns_that_another_task_closed_it(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?stall_after=1"))
    assert await thunk.astream() == "one"
    reader = asyncio.create_task(thunk.astream())
    await asyncio.sleep(0.01)
    await thunk.aclose()
    with pytest.raises(GenerationClosedError) as caught:
        await reader
    assert ledger.last.closed and ledger.last.cancelled
    assert isinstance(caught.value, StreamInterruptedError)
    assert caught.value.partial_response == "one"


async def test_a_close_from_another_task_reaches_every_kind_of_reader(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?stall_after=2"))
    pieces: list[str] = []

    async def iterate() -> None:
        async for piece in thunk:
            pieces.append(piece)

    reader = asyncio.create_task(iterate())
    waiters = [asyncio.create_task(thunk.avalue()) for _ in range(2)]
    while len(pieces) < 2:
        await asyncio.sleep(0.001)
    await thunk.aclose()
    for task in (reader, *waiters):
        with pytest.raises(GenerationClosedError) as caught:
            await task
        assert caught.value.partial_response == "one two"
    assert pieces == ["one", " two"] and ledger.last.closed
    with pytest.raises(GenerationClosedError):  # and so does every later read
        await anext(thunk)


async def test_the_readers_own_cancellation_propagates_and_the_thunk_lives_on(
    ring: LLMRing,
) -> None:
    thunk = ring.generate(req("mock:echo?delay=0.2&chunk_size=100"))  # one chunk, late

    async def next_delta() -> str:
        return await anext(thunk)

    for read in (thunk.avalue, thunk.astream, next_delta):
        reader = asyncio.create_task(read())
        await asyncio.sleep(0.005)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert reader.cancelled()
    assert await thunk.avalue() == TEXT  # not converted, and not taken out on the generation


async def test_timeout_around_a_reader_is_a_timeout(ring: LLMRing) -> None:
    thunk = ring.generate(req("mock:echo?stall_after=0"))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await thunk.avalue()
    await thunk.aclose()
    assert ledger.last.cancelled


# -- many at once ---------------------------------------------------------------------------


async def test_thunks_run_concurrently(ring: LLMRing) -> None:
    delay = 0.03
    started = time.perf_counter()
    thunks = [ring.generate(req(f"mock:echo?delay={delay}", f"reply {i} a b c")) for i in range(5)]
    texts = await wait_for_all(thunks)
    elapsed = time.perf_counter() - started
    assert texts == [f"reply {i} a b c" for i in range(5)]
    one_stream = 5 * delay
    assert elapsed < 2.5 * one_stream  # five streams in sequence would take 5 x one_stream


async def test_wait_for_all_reports_every_failure(ring: LLMRing) -> None:
    thunks = [
        ring.generate(req("mock:echo?fail=server&fail_after=2")),
        ring.generate(req("mock:echo?delay=0.01")),
        ring.generate(req("mock:echo?fail=auth")),
    ]
    with pytest.raises(GenerationErrors) as caught:
        await wait_for_all(thunks)
    group = caught.value
    assert "2 of 3 generations failed" in str(group)
    assert len(group.exceptions) == 2
    interrupted, auth = group.exceptions
    assert isinstance(interrupted, StreamInterruptedError)
    assert interrupted.__notes__ == ["generation 0 of 3 (mock:echo?fail=server&fail_after=2)"]
    assert auth.__notes__ == ["generation 2 of 3 (mock:echo?fail=auth)"]
    assert group.results == [None, TEXT, None]  # the good one still completed
    assert thunks[1].is_computed() and ledger.records[1].completed
    # except* works on it, since it is an ExceptionGroup
    with pytest.raises(ExceptionGroup):
        await wait_for_all(thunks)
    assert len(auth.__notes__) == 1  # asking again does not pile up notes


async def test_wait_for_all_of_nothing(ring: LLMRing) -> None:
    assert await wait_for_all([]) == []
