"""stream_with_chunking: checks per chunk, early stop closing the provider, events, sources."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring.exceptions import StreamInterruptedError
from llmring.providers.mock import ledger
from llmring.streaming import (
    ChunkEvent,
    CompletedEvent,
    ErrorEvent,
    Forbidden,
    FullValidationEvent,
    GenerationClosedError,
    MaxLength,
    PartialValidationResult,
    QuickCheckEvent,
    Requirement,
    StreamingDoneEvent,
    StreamingEvent,
    ValidationResult,
    stream_with_chunking,
)

TEXT = "One two three. Four five six. Seven eight nine. Ten eleven twelve. Done now."
SENTENCES = [
    "One two three. ",
    "Four five six. ",
    "Seven eight nine. ",
    "Ten eleven twelve. ",
    "Done now.",
]


def request(text: str = TEXT, options: str = "delay=0.01") -> LLMRequest:
    return LLMRequest(
        model=f"mock:x?{options}",
        messages=[Message(role="user", content="hi")],
        extra_params={"mock_response": text},
    )


@pytest.fixture
async def ring() -> AsyncIterator[LLMRing]:
    async with LLMRing() as ring:
        yield ring


class FailOnChunk(Requirement):
    """Fails on chunk number ``bad`` (1-based); counts on ``self``."""

    def __init__(self, bad: int) -> None:
        self.bad = bad
        self.count = 0

    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        self.count += 1
        if self.count == self.bad:
            return PartialValidationResult("fail", f"chunk {self.count}")
        return PartialValidationResult("pass")


class Sleepy(Requirement):
    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds

    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        await asyncio.sleep(self.seconds)
        return PartialValidationResult("pass")


class Boom(Requirement):
    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        if "Four" in chunk:
            raise KeyError("validator broke")
        return PartialValidationResult("unknown")


def shape(events: list[StreamingEvent]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for event in events:
        if isinstance(event, ChunkEvent):
            out.append(("chunk", event.index, event.text))
        elif isinstance(event, QuickCheckEvent):  # one per chunk: a row per verdict
            assert event.passed == (not any(r.failed for r in event.results)) and event.results
            out += [("check", event.chunk_index, r.requirement, r.status) for r in event.results]
        elif isinstance(event, FullValidationEvent):
            out.append(("full", [(r.requirement, r.passed) for r in event.results]))
        elif isinstance(event, CompletedEvent):
            out.append(("completed", event.success, event.outcome))
        elif isinstance(event, ErrorEvent):
            out.append(("error", type(event.error).__name__))
        else:
            assert isinstance(event, StreamingDoneEvent)
            out.append(("done", event.full_text))
    return out


# -- the provider is stopped by the first failing check ---------------------------------------


async def test_a_failing_check_stops_the_provider_and_ends_the_events(ring: LLMRing) -> None:
    stream = stream_with_chunking(request(), "sentence", [FailOnChunk(2)], ring=ring)
    events = [event async for event in stream.events()]

    assert shape(events) == [
        ("check", 0, "FailOnChunk", "pass"),
        ("chunk", 0, "One two three. "),
        ("check", 1, "FailOnChunk", "fail"),
        ("completed", False, "chunk_check_failed"),
    ]
    record = ledger.last
    assert record.closed and not record.completed
    assert record.chunks_sent <= 8  # one word per chunk: the whole reply is 15
    # mellea's meaning: a run stopped by a failed check did not complete
    assert not stream.completed and not stream.success and stream.outcome == "chunk_check_failed"
    assert stream.full_text == "One two three. "
    assert [(f.requirement, f.reason) for f in stream.streaming_failures] == [
        ("FailOnChunk", "chunk 2")
    ]
    assert stream.final_validations == []  # not run after a failed chunk
    timestamps = [event.timestamp for event in events]
    assert timestamps == sorted(timestamps)


async def test_astream_ends_early_without_raising(ring: LLMRing) -> None:
    stream = stream_with_chunking(request(), "word", [FailOnChunk(3)], ring=ring)
    assert [chunk async for chunk in stream.astream()] == ["One ", "two "]
    assert stream.outcome == "chunk_check_failed"
    assert ledger.last.closed and not ledger.last.completed


async def test_a_successful_run_validates_the_full_text(ring: LLMRing) -> None:
    def ends_with_period(text: str) -> bool:
        return text.endswith(".")

    checks = [MaxLength(500), Requirement.from_callables("period", on_text=ends_with_period)]
    stream = stream_with_chunking(request(), "sentence", checks, ring=ring)
    events = [event async for event in stream.events()]

    expected: list[tuple[Any, ...]] = []
    for index, sentence in enumerate(SENTENCES):
        expected += [
            ("check", index, "MaxLength", "pass"),
            ("check", index, "period", "unknown"),
            ("chunk", index, sentence),
        ]
    expected += [
        ("done", TEXT),
        ("full", [("MaxLength", True), ("period", True)]),
        ("completed", True, "passed"),
    ]
    assert shape(events) == expected
    assert stream.success and stream.full_text == TEXT and ledger.last.completed
    assert [r.passed for r in stream.final_validations] == [True, True]


async def test_a_failed_full_check_is_reported_not_raised(ring: LLMRing) -> None:
    never = Requirement.from_callables("never", on_text=lambda text: False)
    stream = stream_with_chunking(request(), "paragraph", [never], ring=ring)
    assert [chunk async for chunk in stream.astream()] == [TEXT]
    assert stream.outcome == "full_check_failed" and not stream.success
    assert stream.final_validations == [ValidationResult(False, "", "never")]
    assert await stream.acomplete() is stream  # already done: returns at once


# -- validators ----------------------------------------------------------------------------------


async def fake_deltas(*deltas: str) -> AsyncIterator[str]:
    for delta in deltas:
        yield delta


async def test_validators_of_one_chunk_run_concurrently() -> None:
    checks = [Sleepy("a", 0.05), Sleepy("b", 0.05)]
    started = time.perf_counter()
    stream = stream_with_chunking(fake_deltas("A. ", "B. ", "C. ", "D."), "sentence", checks)
    chunks = [chunk async for chunk in stream.astream()]
    elapsed = time.perf_counter() - started
    assert chunks == ["A. ", "B. ", "C. ", "D."]
    assert 0.2 <= elapsed < 0.34  # four chunks at ~50 ms each; sequential checks take 400 ms


async def test_the_first_failure_cancels_slower_checks() -> None:
    cancelled = asyncio.Event()

    class Slow(Requirement):
        async def stream_validate(self, chunk: str) -> PartialValidationResult:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return PartialValidationResult("pass")

    stream = stream_with_chunking(fake_deltas("A. ", "B."), "sentence", [Slow(), FailOnChunk(1)])
    started = time.perf_counter()
    events = [event async for event in stream.events()]
    assert time.perf_counter() - started < 1
    assert cancelled.is_set()
    assert shape(events) == [
        ("check", 0, "FailOnChunk", "fail"),
        ("completed", False, "chunk_check_failed"),
    ]


async def test_each_run_gets_fresh_requirements() -> None:
    original = FailOnChunk(2)
    first = stream_with_chunking(fake_deltas("A. B. C."), "sentence", [original])
    second = stream_with_chunking(fake_deltas("A. B. C."), "sentence", [original])
    assert [c async for c in first.astream()] == ["A. "]
    assert [c async for c in second.astream()] == ["A. "]  # its counter started from 0 too
    assert original.count == 0
    copy = first.requirements[0]
    assert isinstance(copy, FailOnChunk) and copy is not original and copy.count == 2


async def test_a_validator_error_closes_upstream_and_is_raised(ring: LLMRing) -> None:
    stream = stream_with_chunking(request(), "sentence", [Boom()], ring=ring)
    chunks = []
    with pytest.raises(KeyError, match="validator broke"):
        async for chunk in stream.astream():
            chunks.append(chunk)
    assert chunks == ["One two three. "]
    assert ledger.last.closed and not ledger.last.completed
    assert isinstance(stream.error, KeyError) and stream.outcome == "error"

    again = stream_with_chunking(request(), "sentence", [Boom()], ring=ring)
    assert shape([event async for event in again.events()]) == [
        ("check", 0, "Boom", "unknown"),
        ("chunk", 0, "One two three. "),
        ("error", "KeyError"),
        ("completed", False, "error"),
    ]


async def test_a_source_error_is_raised_by_astream_and_acomplete(ring: LLMRing) -> None:
    failing = request(options="fail=server&fail_after=4")
    with pytest.raises(StreamInterruptedError):
        await stream_with_chunking(failing, "sentence", ring=ring).acomplete()
    stream = stream_with_chunking(failing, "word", ring=ring)
    events = [event async for event in stream.events()]
    assert shape(events)[-2:] == [
        ("error", "StreamInterruptedError"),
        ("completed", False, "error"),
    ]
    assert stream.full_text == "One two three. "


async def test_a_bad_verdict_is_an_error() -> None:
    bad = Requirement.from_callables("bad")
    bad.stream_validate = lambda chunk: _async("yes")  # type: ignore[method-assign]
    with pytest.raises(TypeError, match="not a PartialValidationResult"):
        await stream_with_chunking(fake_deltas("A."), "word", [bad]).acomplete()


async def _async(value: Any) -> Any:
    return value


async def test_forbidden_sees_phrases_across_chunks() -> None:
    stream = stream_with_chunking(
        fake_deltas("I like green ", "Apples a lot"), "word", [Forbidden(["green apples"])]
    )
    assert [c async for c in stream.astream()] == ["I ", "like ", "green "]
    assert stream.streaming_failures[0].reason == "contains 'green apples'"


# -- one consumer, closing, cancellation -------------------------------------------------------


async def test_each_view_has_one_consumer() -> None:
    stream = stream_with_chunking(fake_deltas("A. B."), "sentence")
    chunks = stream.astream()
    with pytest.raises(RuntimeError, match=r"astream\(\) was already called.*one consumer"):
        stream.astream()
    events = stream.events()  # the other view may read the same run
    with pytest.raises(RuntimeError, match=r"events\(\) was already called"):
        stream.events()
    assert [c async for c in chunks] == ["A. ", "B."]
    assert [type(e).__name__ for e in [e async for e in events]] == [
        "ChunkEvent",
        "ChunkEvent",
        "StreamingDoneEvent",
        "FullValidationEvent",
        "CompletedEvent",
    ]
    assert await stream.acomplete() is stream


async def test_two_tasks_on_one_iterator_fail_fast() -> None:
    slow = stream_with_chunking(fake_deltas("A. B. C."), "sentence", [Sleepy("s", 0.2)])
    chunks = slow.astream()

    async def take() -> str:
        return await anext(chunks)

    first = asyncio.create_task(take())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="already running"):
        await asyncio.wait_for(take(), 1)
    assert await first == "A. "
    await slow.aclose()


async def test_break_closes_the_provider(ring: LLMRing) -> None:
    async with stream_with_chunking(request(), "word", ring=ring) as stream:
        async for _ in stream.astream():
            break
    assert ledger.last.closed and not ledger.last.completed
    await stream.aclose()  # idempotent


async def test_aclose_from_another_task_stops_both_waiting_views(ring: LLMRing) -> None:
    stream = stream_with_chunking(request(options="stall_after=3"), "word", ring=ring)
    words: list[str] = []
    events: list[StreamingEvent] = []

    async def read_words() -> None:
        async for word in stream.astream():
            words.append(word)

    async def read_events() -> None:
        async for event in stream.events():
            events.append(event)

    readers = [asyncio.create_task(read_words()), asyncio.create_task(read_events())]
    while len(words) < 2:  # "One ", "two ": " three." waits for the word after it
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)  # both views now wait on the stalled provider
    await stream.aclose()
    assert ledger.last.closed and ledger.last.cancelled  # before aclose() returned
    for reader in readers:
        with pytest.raises(GenerationClosedError) as caught:
            await reader
        assert caught.value.partial_response == "One two "
    assert words == ["One ", "two "]
    assert [e.text for e in events if isinstance(e, ChunkEvent)] == words and len(events) == 2
    assert stream.outcome is None and not stream.completed
    with pytest.raises(GenerationClosedError):
        await stream.acomplete()
    await stream.aclose()  # idempotent


async def test_cancelling_the_consumer_closes_the_provider(ring: LLMRing) -> None:
    stream = stream_with_chunking(request(options="delay=0.05"), "word", ring=ring)
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in stream.astream():
            seen.append(chunk)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen and ledger.last.closed and ledger.last.cancelled


async def test_nothing_starts_until_consumed(ring: LLMRing) -> None:
    stream = stream_with_chunking(request(), "sentence", ring=ring)
    await asyncio.sleep(0.05)
    assert ledger.records == [] and not stream.completed
    await stream.aclose()
    assert ledger.records == []


def test_bad_arguments_fail_at_once() -> None:
    with pytest.raises(TypeError, match="not str"):
        stream_with_chunking("just text", "sentence")
    with pytest.raises(TypeError, match="Requirement objects"):
        stream_with_chunking(fake_deltas(), "sentence", [lambda chunk: True])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="choose one of paragraph, sentence, word"):
        stream_with_chunking(fake_deltas(), "clause")
    with pytest.raises(ValueError, match="status must be"):
        PartialValidationResult("maybe")  # type: ignore[arg-type]


# -- sources -------------------------------------------------------------------------------------


async def test_a_chat_stream_source(ring: LLMRing) -> None:
    stream = stream_with_chunking(ring.chat_stream(request()), "sentence", [FailOnChunk(3)])
    assert [c async for c in stream.astream()] == SENTENCES[:2]
    assert ledger.last.closed and not ledger.last.completed


class FakeThunk:
    """What stream_with_chunking needs from a GenerationThunk: str deltas and aclose()."""

    def __init__(self, *deltas: str) -> None:
        self.deltas = list(deltas)
        self.closed = 0

    def __aiter__(self) -> FakeThunk:
        return self

    async def __anext__(self) -> str:
        if not self.deltas:
            raise StopAsyncIteration
        return self.deltas.pop(0)

    async def aclose(self) -> None:
        self.closed += 1


async def test_a_thunk_like_source_is_closed_on_failure_and_on_success() -> None:
    thunk = FakeThunk("Fine. ", "Bad. ", "Next. ", "Never.")
    stream = stream_with_chunking(thunk, "sentence", [FailOnChunk(2)])
    assert [c async for c in stream.astream()] == ["Fine. "]
    # "Bad. " is known complete once "Next. " arrives; nothing is read after that
    assert thunk.closed == 1 and thunk.deltas == ["Never."]

    whole = FakeThunk("A. ", "B.")
    assert (await stream_with_chunking(whole, "sentence").acomplete()).full_text == "A. B."
    assert whole.closed == 1


async def test_an_unconsumed_stream_still_closes_its_source() -> None:
    thunk = FakeThunk("A.")
    async with stream_with_chunking(thunk, "sentence"):
        pass
    assert thunk.closed == 1


@pytest.mark.skipif(
    importlib.util.find_spec("llmring.streaming._thunks") is None,
    reason="GenerationThunk not there yet",
)
async def test_a_real_generation_thunk_is_cancelled_by_a_failing_check(ring: LLMRing) -> None:
    thunk = ring.generate(request(options="delay=0.02"))
    stream = stream_with_chunking(thunk, "sentence", [FailOnChunk(2)])
    assert [c async for c in stream.astream()] == ["One two three. "]
    assert ledger.last.closed and not ledger.last.completed
    assert ledger.last.chunks_sent <= 8


# -- the reference page runs ---------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "validation.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_docs_examples_run(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, str(DOC), "exec"), {"__name__": "__main__"})  # noqa: S102 - our own docs
    assert capsys.readouterr().out.strip(), "every example prints what it shows"
