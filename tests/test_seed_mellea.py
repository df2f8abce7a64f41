"""mellea's streaming validation code runs unchanged on llmring.

The first half is mellea's "Streaming with per-chunk validation" example (seed 004: the
``MaxSentencesReq`` requirement, ``await stream_with_chunking(...)``, the ``match`` over
``result.events()``), with only the ``stream_with_chunking(action, m.backend, m.ctx, ...)`` call
pointed at an ``LLMRequest`` and the imports taken from ``llmring.streaming``. The rest checks
each piece it relies on, and that llmring's own requirements keep working beside mellea's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring.providers.mock import ledger
from llmring.streaming import (
    Backend,
    ChunkEvent,
    CompletedEvent,
    Context,
    ErrorEvent,
    FullValidationEvent,
    GenerationClosedError,
    PartialValidationResult,
    QuickCheckEvent,
    Requirement,
    StreamingDoneEvent,
    ValidationResult,
    stream_with_chunking,
)


def request(reply: str, options: str = "delay=0.001") -> LLMRequest:
    """What ``Instruction(...)`` and ``m.backend, m.ctx`` stood for: a request to a model."""
    return LLMRequest(
        model=f"mock:writer?{options}",
        messages=[Message(role="user", content="Summarise the water cycle.")],
        extra_params={"mock_response": reply},
    )


# -- seed 004, as mellea writes it ----------------------------------------------------------


class MaxSentencesReq(Requirement):
    """Fails if the model generates more than *limit* sentences."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._count = 0

    def format_for_llm(self) -> str:
        return f"The response must be at most {self._limit} sentences."

    async def stream_validate(
        self, chunk: str, *, backend: Backend, ctx: Context
    ) -> PartialValidationResult:
        self._count += 1
        if self._count > self._limit:
            return PartialValidationResult("fail", reason="Too many sentences")
        return PartialValidationResult("unknown")

    async def validate(
        self, backend: Backend, ctx: Context, *, format=None, model_options=None
    ) -> ValidationResult:
        return ValidationResult(result=True)


async def main(reply: str) -> None:
    action = request(reply)
    req = MaxSentencesReq(limit=3)

    result = await stream_with_chunking(action, requirements=[req], chunking="sentence")

    async for event in result.events():
        match event:
            case ChunkEvent():
                print(f"  chunk[{event.chunk_index}]: {event.text!r}")
            case QuickCheckEvent(passed=False):
                print(f"  FAIL at chunk {event.chunk_index}: {event.results}")
            case StreamingDoneEvent():
                print(f"  stream done — {len(event.full_text)} chars")
            case FullValidationEvent():
                print(f"  final: {'pass' if event.passed else 'fail'}")
            case CompletedEvent():
                print(f"  completed — success={event.success}")
            case _:
                pass  # ErrorEvent and other future types

    await result.acomplete()
    print(f"completed={result.completed}, failures={len(result.streaming_failures)}")


# -- the seed runs and prints what mellea prints ---------------------------------------------


async def test_seed_004_within_the_limit(capsys: pytest.CaptureFixture[str]) -> None:
    await main("Water rises from the sea. It falls again as rain.")
    assert capsys.readouterr().out.splitlines() == [
        "  chunk[0]: 'Water rises from the sea. '",  # llmring's chunks keep their whitespace
        "  chunk[1]: 'It falls again as rain.'",
        "  stream done — 49 chars",
        "  final: pass",
        "  completed — success=True",
        "completed=True, failures=0",
    ]
    assert ledger.last.completed


async def test_seed_004_over_the_limit_stops_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    await main("One. Two. Three. Four. Five. Six. Seven. Eight.")
    assert capsys.readouterr().out.splitlines() == [
        "  chunk[0]: 'One. '",
        "  chunk[1]: 'Two. '",
        "  chunk[2]: 'Three. '",
        (
            "  FAIL at chunk 3: [PartialValidationResult('fail', reason='Too many sentences', "
            "score=None)]"
        ),
        "  completed — success=False",
        "completed=False, failures=1",
    ]
    assert ledger.last.closed and not ledger.last.completed  # generation was cut short


async def test_astream_and_events_read_one_run_together_with_gather() -> None:
    """mellea: "They use independent queues, so you can run them concurrently with
    asyncio.gather"."""
    result = await stream_with_chunking(
        request("A one. A two. A three."), requirements=[MaxSentencesReq(limit=5)]
    )

    async def chunks() -> list[str]:
        return [chunk async for chunk in result.astream()]

    async def kinds() -> list[str]:
        return [event.kind async for event in result.events()]

    texts, events = await asyncio.gather(chunks(), kinds())
    assert texts == ["A one. ", "A two. ", "A three."]
    assert events == ["quick_check", "chunk"] * 3 + [
        "streaming_done",
        "full_validation",
        "completed",
    ]
    await result.acomplete()
    assert result.completed and len(ledger.records) == 1  # one run, one request


async def instant(*deltas: str) -> AsyncIterator[str]:
    for delta in deltas:  # never waits: a reader could finish before another task starts
        yield delta


async def test_readers_started_together_all_see_the_run_from_its_start() -> None:
    result = stream_with_chunking(instant("A. ", "B. ", "C."), "sentence")

    async def chunks() -> list[str]:
        return [chunk async for chunk in result.astream()]

    async def events() -> list[str]:
        return [type(event).__name__ async for event in result.events()]

    async def complete() -> bool:
        return (await result.acomplete()).completed

    texts, names, completed = await asyncio.gather(chunks(), events(), complete())
    assert texts == ["A. ", "B. ", "C."] and completed
    assert names == ["ChunkEvent"] * 3 + [
        "StreamingDoneEvent",
        "FullValidationEvent",
        "CompletedEvent",
    ]


async def test_one_reader_stopping_early_leaves_the_run_to_the_other() -> None:
    result = stream_with_chunking(request("A. B. C. D."), "sentence")
    first = await anext(result.astream())  # then this reader is dropped
    assert first == "A. "
    events = [event async for event in result.events()]
    assert [e.text for e in events if isinstance(e, ChunkEvent)] == ["B. ", "C. ", "D."]
    assert result.completed and ledger.last.completed


async def test_cancelling_one_reader_closes_the_run_for_the_other() -> None:
    result = stream_with_chunking(request("A. B. C. D.", options="delay=0.05"), "word")
    events = result.events()

    async def first_chunk() -> str:
        return await anext(result.astream())

    reader = asyncio.create_task(first_chunk())
    await asyncio.sleep(0.02)  # the reader is now pulling the first chunk
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    with pytest.raises(GenerationClosedError, match="task reading it was cancelled"):
        async for _ in events:
            pass
    assert ledger.last.closed and not ledger.last.completed


# -- the pieces the seed relies on ----------------------------------------------------------


class Seen(Requirement):
    """Records what a mellea-style requirement is called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    async def stream_validate(
        self, chunk: str, *, backend: Backend, ctx: Context
    ) -> PartialValidationResult:
        self.calls.append((chunk, backend, ctx))
        return PartialValidationResult("pass", score=0.9)

    async def validate(
        self,
        backend: Backend,
        ctx: Context,
        *,
        format: type | None = None,
        model_options: dict[str, Any] | None = None,
    ) -> ValidationResult:
        assert ctx is not None
        return ValidationResult(result=ctx.full_text.endswith("."), reason="ends well")


class Short(Requirement):
    """llmring's own style, beside mellea's in the same run."""

    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        return PartialValidationResult("pass" if len(chunk) < 20 else "fail", "too long")

    async def validate(self, full_text: str) -> ValidationResult:
        return ValidationResult(len(full_text) < 100)


async def test_mellea_style_and_llmring_style_requirements_run_together() -> None:
    async with LLMRing() as ring:
        result = stream_with_chunking(
            request("Hi there. Bye now."), "sentence", [Seen(), Short()], ring=ring
        )
        await result.acomplete()
    seen = result.requirements[0]
    assert isinstance(seen, Seen)
    assert [chunk for chunk, _, _ in seen.calls] == ["Hi there. ", "Bye now."]
    assert all(backend is ring and ctx is result for _, backend, ctx in seen.calls)
    assert [(v.requirement, v.passed, v.reason) for v in result.final_validations] == [
        ("Seen", True, "ends well"),
        ("Short", True, ""),
    ]
    assert result.success and result.completed


async def test_a_stream_source_gives_the_ring_it_was_given_or_the_shared_one() -> None:
    from llmring._default_ring import default_ring

    without = stream_with_chunking(instant("A."), "sentence", [Seen()])
    await without.acomplete()
    seen = without.requirements[0]
    assert isinstance(seen, Seen) and [b for _, b, _ in seen.calls] == [default_ring()]
    async with LLMRing() as ring:
        given = stream_with_chunking(instant("A."), "sentence", [Seen()], ring=ring)
        await given.acomplete()
    seen = given.requirements[0]
    assert isinstance(seen, Seen) and [b for _, b, _ in seen.calls] == [ring]


def test_validation_result_takes_mellea_and_llmring_arguments() -> None:
    assert ValidationResult(result=True) == ValidationResult(True)
    assert ValidationResult(result=False, reason="no", score=0.2).reason == "no"
    verdict = ValidationResult(False, "too long")
    assert not verdict and not verdict.as_bool() and verdict.result is False
    assert bool(ValidationResult(result=True))
    wrongs: list[dict[str, Any]] = [{}, {"passed": True, "result": True}]
    for wrong in wrongs:
        with pytest.raises(TypeError, match="exactly one"):
            ValidationResult(**wrong)
    assert repr(ValidationResult(result=True)) == ("ValidationResult(True, reason='', score=None)")


def test_partial_validation_result_speaks_mellea() -> None:
    verdict = PartialValidationResult("fail", reason="nope", score=0.1)
    assert verdict.success == "fail" == verdict.status and verdict.failed
    assert not verdict and not PartialValidationResult("unknown").as_bool()
    assert PartialValidationResult("pass").as_bool()


def test_event_fields_have_mellea_names() -> None:
    chunk = ChunkEvent("Hi. ", 2)
    assert chunk.chunk_index == chunk.index == 2
    check = QuickCheckEvent(
        chunk_index=0, passed=False, results=[PartialValidationResult("fail", "x")]
    )
    match check:
        case QuickCheckEvent(passed=False, results=[first]):
            assert first.reason == "x"
        case _:
            raise AssertionError("mellea's pattern did not match")
    error = ErrorEvent(KeyError("gone"))
    assert (error.exception_type, error.detail) == ("KeyError", "'gone'")


async def test_completed_is_false_after_a_failed_check_or_an_error_and_while_running() -> None:
    failed = stream_with_chunking(instant("A. B. C. D. E."), "sentence", [MaxSentencesReq(2)])
    assert not failed.completed  # nothing ran yet
    await failed.acomplete()
    assert failed.outcome == "chunk_check_failed" and not failed.completed
    assert [f.reason for f in failed.streaming_failures] == ["Too many sentences"]

    never = Requirement.from_callables("never", on_text=lambda text: False)
    judged = await stream_with_chunking(instant("A. B."), "sentence", [never]).acomplete()
    assert judged.completed and not judged.success  # it ran to its end; the text failed

    class Broken(Requirement):
        async def stream_validate(
            self, chunk: str, *, backend: Backend, ctx: Context
        ) -> PartialValidationResult:
            raise ValueError("broken")

    broken = stream_with_chunking(instant("A. B."), "sentence", [Broken()])
    with pytest.raises(ValueError, match="broken"):
        await broken.acomplete()
    assert broken.outcome == "error" and not broken.completed


async def test_acomplete_after_an_early_close_says_so() -> None:
    result = stream_with_chunking(request("A. B."), "sentence")
    await result.aclose()
    with pytest.raises(GenerationClosedError, match="closed before"):
        await result.acomplete()
    assert ledger.records == []


async def test_a_check_without_a_readable_signature_is_called_with_the_text() -> None:
    class Opaque:
        __signature__ = "unreadable"  # inspect.signature() raises TypeError on this

        async def __call__(self, chunk: str) -> PartialValidationResult:
            return PartialValidationResult("pass" if chunk else "fail")

    opaque = Requirement()
    opaque.stream_validate = Opaque()  # type: ignore[method-assign]
    result = await stream_with_chunking(instant("A. B."), "sentence", [opaque]).acomplete()
    assert result.success and result.chunks == ["A. ", "B."]
