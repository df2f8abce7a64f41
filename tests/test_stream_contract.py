"""The stream contract (docs/stream-contract.md) over the mock provider, through the facade.

One terminal chunk, last; no empty deltas; usage only on the terminal chunk; every way of
leaving a stream closes the provider stream; cancellation propagates; a cut stream raises
with the exact partial text; fallback only before content.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message, StreamChunk
from llmring._stream import ChatStream
from llmring.exceptions import (
    LLMRingError,
    ProviderAuthenticationError,
    ProviderRateLimitError,
    ProviderResponseError,
    StreamBusyError,
    StreamInterruptedError,
)
from llmring.providers.mock import ledger
from tests.helpers import write_lockfile

REPLY = "One two three. Four five six! Seven?"


def request(model: str = "mock:echo", text: str = REPLY, **kwargs: Any) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content=text)], **kwargs)


async def collect(ring: LLMRing, req: LLMRequest) -> list[StreamChunk]:
    return [chunk async for chunk in ring.chat_stream(req)]


def check_contract(chunks: list[StreamChunk]) -> StreamChunk:
    """Assert the shape every successful stream must have; return the terminal chunk."""
    *content, terminal = chunks
    assert terminal.is_terminal and terminal.delta == ""
    for chunk in content:
        assert not chunk.is_terminal
        assert chunk.usage is None and chunk.finish_reason is None and chunk.tool_calls is None
        assert chunk.delta or chunk.reasoning or chunk.tool_call_delta
    return terminal


async def test_text_stream_has_one_terminal_chunk_last() -> None:
    async with LLMRing() as ring:
        chunks = await collect(ring, request())
    terminal = check_contract(chunks)
    assert "".join(c.delta for c in chunks) == REPLY
    assert [c.delta for c in chunks[:-1]] == [
        "One",
        " two",
        " three.",
        " Four",
        " five",
        " six!",
        " Seven?",
    ]
    assert (terminal.finish_reason, terminal.finish_reason_raw) == ("stop", "stop")
    assert (terminal.provider, terminal.model) == ("mock", "echo")
    assert terminal.usage == {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
    assert terminal.tool_calls is None
    assert terminal.metadata is not None and terminal.metadata["duration"] >= 0
    assert ledger.last.completed and ledger.last.closed  # so "not completed" below means something


async def test_content_property_is_delta() -> None:
    async with LLMRing() as ring:
        chunks = await collect(ring, request())
    assert [c.content for c in chunks] == [c.delta for c in chunks]


async def test_reasoning_chunks_come_before_text() -> None:
    async with LLMRing() as ring:
        chunks = await collect(ring, request("mock:echo?reasoning=Let+me+think.", text="Hi"))
    check_contract(chunks)
    assert [(c.reasoning, c.delta) for c in chunks[:-1]] == [
        ("Let", ""),
        (" me", ""),
        (" think.", ""),
        (None, "Hi"),
    ]
    assert chunks[-1].usage == {"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6}


async def test_tool_call_fragments_and_assembled_calls() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    async with LLMRing() as ring:
        chunks = await collect(ring, request("mock:agent", tools=[tool]))
    terminal = check_contract(chunks)
    fragments = [c.tool_call_delta for c in chunks[:-1] if c.tool_call_delta is not None]
    assert len(fragments) == len(chunks) - 1 and all(f.index == 0 for f in fragments)
    assert (fragments[0].id, fragments[0].name) == ("call_mock_0", "get_weather")
    assert all(f.id is None and f.name is None for f in fragments[1:])
    assert "".join(f.arguments for f in fragments) == '{"city": "mock"}'
    assert terminal.finish_reason == "tool_calls"
    assert terminal.tool_calls == [
        {
            "id": "call_mock_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "mock"}'},
        }
    ]


async def test_chat_equals_what_the_stream_assembles() -> None:
    async with LLMRing() as ring:
        chunks = await collect(ring, request("mock:echo?reasoning=Hmm"))
        response = await ring.chat(request("mock:echo?reasoning=Hmm"))
    terminal = chunks[-1]
    assert response.content == "".join(c.delta for c in chunks)
    assert response.reasoning == "Hmm"
    assert (response.finish_reason, response.usage, response.tool_calls, response.model) == (
        terminal.finish_reason,
        terminal.usage,
        terminal.tool_calls,
        terminal.model,
    )


async def test_max_tokens_truncates_with_length() -> None:
    async with LLMRing() as ring:
        chunks = await collect(ring, request(max_tokens=4))
    assert "".join(c.delta for c in chunks) == "One two three."
    assert chunks[-1].finish_reason == "length"
    usage = chunks[-1].usage
    assert usage is not None and usage["completion_tokens"] == 4


# -- leaving a stream closes it -------------------------------------------------------------


async def test_break_closes_the_provider_stream() -> None:
    async with LLMRing() as ring:
        async for _chunk in ring.chat_stream(request()):
            break
        # A bare break leaves the generator to the event loop's finaliser: one loop turn.
        for _ in range(3):
            await asyncio.sleep(0)
        record = ledger.last
        assert record.closed and not record.completed and record.chunks_sent == 1


async def test_aclose_closes_and_is_idempotent() -> None:
    async with LLMRing() as ring:
        stream = ring.chat_stream(request())
        first = await stream.__anext__()
        assert first.delta == "One"
        await stream.aclose()
        assert ledger.last.closed and not ledger.last.completed
        await stream.aclose()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()


async def test_async_with_exit_closes() -> None:
    async with LLMRing() as ring:
        async with ring.chat_stream(request()) as stream:
            async for _chunk in stream:
                break
            assert not ledger.last.closed or ledger.last.chunks_sent == 1
        assert ledger.last.closed and not ledger.last.completed


async def test_cancellation_closes_and_propagates() -> None:
    started = asyncio.Event()

    async def consume(ring: LLMRing) -> None:
        async for _chunk in ring.chat_stream(request("mock:echo?delay=0.05")):
            started.set()

    async with LLMRing() as ring:
        task = asyncio.create_task(consume(ring))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    record = ledger.last
    assert record.closed and record.cancelled and not record.completed


async def test_unconsumed_stream_never_calls_the_provider() -> None:
    async with LLMRing() as ring:
        stream = ring.chat_stream(request())
        await stream.aclose()
    assert ledger.records == []


async def test_one_consumer_only() -> None:
    async with LLMRing() as ring, ring.chat_stream(request("mock:echo?delay=0.2")) as stream:
        first = asyncio.create_task(stream.__anext__())
        await asyncio.sleep(0.01)
        with pytest.raises(StreamBusyError, match="one consumer") as caught:
            await stream.__anext__()
        assert (await first).delta == "One"
    assert isinstance(caught.value, LLMRingError) and isinstance(caught.value, RuntimeError)


# -- closing from another task (a Stop button, a server that saw its client leave) -------------


async def waiting_consumer(
    stream: ChatStream, received: list[str], chunks: int
) -> asyncio.Task[None]:
    """A task consuming ``stream`` into ``received``, once it waits after ``chunks`` chunks."""

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk.delta)

    consumer = asyncio.create_task(consume())
    while len(received) < chunks:
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the consumer now waits on the stalled provider
    return consumer


async def test_aclose_from_another_task_interrupts_a_waiting_consumer() -> None:
    received: list[str] = []
    async with LLMRing() as ring:
        stream = ring.chat_stream(request("mock:echo?stall_after=2"))
        consumer = await waiting_consumer(stream, received, 2)
        await stream.aclose()
        assert ledger.last.closed and ledger.last.cancelled  # before aclose() returned
        with pytest.raises(StreamInterruptedError) as caught:
            await consumer
        await stream.aclose()  # idempotent
        with pytest.raises(StopAsyncIteration):  # said once; then the stream has ended
            await anext(stream)
    assert received == ["One", " two"] and caught.value.partial_response == "One two"
    assert (caught.value.provider, caught.value.model) == ("mock", "echo")
    assert "closed by aclose() from another task" in str(caught.value)


async def close_while_busy(pause_at: Callable[[StreamChunk], bool]) -> list[StreamChunk]:
    """Consume a stream in a task that pauses on the first chunk ``pause_at`` picks (busy
    sending it somewhere, say); close the stream from here meanwhile; return what the consumer
    got. Its task's error, if any, is raised."""
    received: list[StreamChunk] = []
    busy, resume = asyncio.Event(), asyncio.Event()

    async def consume(stream: ChatStream) -> None:
        async for chunk in stream:
            received.append(chunk)
            if pause_at(chunk):
                busy.set()
                await resume.wait()

    async with LLMRing() as ring:
        stream = ring.chat_stream(request())
        consumer = asyncio.create_task(consume(stream))
        await busy.wait()
        await stream.aclose()
        assert ledger.last.closed
        resume.set()
        await consumer
    return received


async def test_aclose_from_another_task_between_chunks_interrupts_the_next_read() -> None:
    with pytest.raises(StreamInterruptedError) as caught:
        await close_while_busy(lambda chunk: True)
    assert caught.value.partial_response == "One" and not ledger.last.completed


async def test_aclose_from_another_task_after_the_terminal_chunk_loses_nothing() -> None:
    received = await close_while_busy(lambda chunk: chunk.is_terminal)
    check_contract(received)  # the loop just ended: everything was delivered
    assert "".join(c.delta for c in received) == REPLY


async def test_the_consumers_own_cancellation_wins_over_a_close() -> None:
    async with LLMRing() as ring:
        stream = ring.chat_stream(request("mock:echo?stall_after=1"))
        consumer = await waiting_consumer(stream, [], 1)
        consumer.cancel()  # in the same turn as the close: the task's own cancellation wins
        await stream.aclose()
        with pytest.raises(asyncio.CancelledError):
            await consumer
    assert consumer.cancelled() and ledger.last.closed


async def test_aclose_from_the_consuming_task_just_ends_the_loop() -> None:
    received: list[str] = []
    async with LLMRing() as ring:
        stream = ring.chat_stream(request())
        async for chunk in stream:
            received.append(chunk.delta)
            await stream.aclose()
    assert received == ["One"] and ledger.last.closed


# -- failures ----------------------------------------------------------------------------------


async def test_cut_stream_raises_with_the_exact_partial_text() -> None:
    async with LLMRing() as ring:
        received = []
        with pytest.raises(StreamInterruptedError) as caught:
            async for chunk in ring.chat_stream(request("mock:echo?cut_after=3")):
                received.append(chunk.delta)
    assert received == ["One", " two", " three."]
    assert caught.value.partial_response == "One two three."
    assert isinstance(caught.value.__cause__, ProviderResponseError)
    assert "end-of-stream marker" in str(caught.value.__cause__)
    assert ledger.last.closed


async def test_error_after_content_is_an_interruption_not_a_fallback(project: Path) -> None:
    write_lockfile(
        project / "llmring.lock",
        {"chatbot": ["mock:echo?fail=rate_limit&fail_after=2", "mock:second"]},
    )
    async with LLMRing() as ring:
        with pytest.raises(StreamInterruptedError) as caught:
            await collect(ring, request("chatbot"))
    assert caught.value.partial_response == "One two"
    assert isinstance(caught.value.__cause__, ProviderRateLimitError)
    assert [r.model for r in ledger.records] == ["echo"]  # the fallback was never called


async def test_empty_reply_cut_before_content_is_a_provider_error() -> None:
    async with LLMRing() as ring:
        with pytest.raises(ProviderResponseError, match="end-of-stream marker"):
            await collect(ring, request("mock:echo?cut_after=0"))


async def test_fallback_before_content(project: Path) -> None:
    write_lockfile(
        project / "llmring.lock", {"chatbot": ["mock:first?fail=rate_limit", "mock:echo"]}
    )
    async with LLMRing() as ring:
        chunks = await collect(ring, request("chatbot"))
    terminal = check_contract(chunks)
    assert "".join(c.delta for c in chunks) == REPLY
    assert terminal.model == "echo"
    assert terminal.metadata["failed_attempts"] == [
        {"model": "mock:first?fail=rate_limit", "error": "mock rate limit: slow down"}
    ]
    assert [r.model for r in ledger.records] == ["first", "echo"]
    assert all(r.closed for r in ledger.records)


async def test_non_retryable_error_does_not_fall_back(project: Path) -> None:
    write_lockfile(
        project / "llmring.lock", {"chatbot": ["mock:first?fail=bad_request", "mock:echo"]}
    )
    async with LLMRing() as ring:
        with pytest.raises(ProviderResponseError) as caught:
            await collect(ring, request("chatbot"))
    assert caught.value.status_code == 400 and not caught.value.retryable
    assert [r.model for r in ledger.records] == ["first"]


async def test_all_candidates_failing_raises_the_last_with_the_others(project: Path) -> None:
    write_lockfile(
        project / "llmring.lock",
        {"chatbot": ["mock:a?fail=server", "mock:b?fail=rate_limit&retry_after=7"]},
    )
    async with LLMRing() as ring:
        with pytest.raises(ProviderRateLimitError) as caught:
            await collect(ring, request("chatbot"))
    error = caught.value
    assert error.retry_after == 7 and error.status_code == 429
    assert error.attempts == [("mock:a?fail=server", "mock: internal server error")]
    assert "also tried mock:a?fail=server: mock: internal server error" in str(error)


async def test_candidates_without_credentials_are_skipped_with_the_reason(project: Path) -> None:
    extra = '\n[providers.keyed]\ntype = "mock"\napi_key_env = "KEYED_API_KEY"\n'
    write_lockfile(
        project / "llmring.lock",
        {"chatbot": ["keyed:one", "mock:echo"], "only": ["keyed:one"]},
        extra,
    )
    async with LLMRing() as ring:
        chunks = await collect(ring, request("chatbot"))
        assert chunks[-1].provider == "mock"
        assert chunks[-1].metadata["failed_attempts"] == [
            {"model": "keyed:one", "error": "KEYED_API_KEY is not set"}
        ]
        with pytest.raises(
            ProviderAuthenticationError, match="keyed:one: KEYED_API_KEY is not set"
        ):
            await collect(ring, request("only"))
    assert [r.model for r in ledger.records] == ["echo"]


# -- deadlines ---------------------------------------------------------------------------------


async def test_first_chunk_timeout_is_a_provider_timeout_and_falls_back(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:slow?delay=1", "mock:echo"]})
    async with LLMRing() as ring:
        chunks = await collect(ring, request("chatbot", timeout={"first_chunk": 0.05}))
    assert chunks[-1].model == "echo"
    assert "first chunk" in chunks[-1].metadata["failed_attempts"][0]["error"]
    assert ledger.records[0].closed and ledger.records[0].cancelled


async def test_idle_timeout_after_content_interrupts_with_partial_text() -> None:
    async with LLMRing() as ring:
        with pytest.raises(StreamInterruptedError) as caught:
            await collect(ring, request("mock:echo?stall_after=2", timeout={"idle": 0.05}))
    assert caught.value.partial_response == "One two"
    assert "idle" in str(caught.value)
    assert ledger.last.closed


async def test_deadlines_do_not_count_the_consumers_time() -> None:
    # Each provider wait is ~10 ms; the consumer sleeps 60 ms per chunk. A 50 ms idle limit
    # and a 150 ms total would both expire if consumer time counted.
    req = request(
        "mock:echo?delay=0.01", timeout={"idle": 0.05, "total": 0.15, "first_chunk": 0.05}
    )
    async with LLMRing() as ring:
        deltas = []
        async for chunk in ring.chat_stream(req):
            deltas.append(chunk.delta)
            await asyncio.sleep(0.06)
    assert "".join(deltas) == REPLY


async def test_total_deadline() -> None:
    async with LLMRing() as ring:
        with pytest.raises(StreamInterruptedError) as caught:
            await collect(ring, request("mock:echo?delay=0.03", timeout=0.1))
    assert "total deadline" in str(caught.value)
    assert REPLY.startswith(caught.value.partial_response) and caught.value.partial_response


async def test_lockfile_provider_timeouts_apply(project: Path) -> None:
    extra = '\n[providers.slowmock]\ntype = "mock"\nfirst_chunk_timeout = 0.05\n'
    write_lockfile(project / "llmring.lock", {"chatbot": ["slowmock:x?delay=1"]}, extra)
    async with LLMRing() as ring:
        with pytest.raises(Exception) as caught:
            await collect(ring, request("chatbot"))
    assert type(caught.value).__name__ == "ProviderTimeoutError"
    assert "slowmock:x?delay=1" in str(caught.value)
