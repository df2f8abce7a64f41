"""Chunked streaming with validation: check each chunk before it is released (docs/validation.md).

``stream_with_chunking(source, "sentence", [requirements])`` returns a :class:`ChunkedStream` at
once; nothing runs until it is consumed. Deltas from the source are cut into chunks; each
chunk is checked by every requirement concurrently and released only when all have answered.
The first ``"fail"`` closes the source at once (the provider connection is dropped) and ends
the run. When the source ends, each requirement checks the full text.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any, Self

from llmring._resource import AsyncResource
from llmring.schemas import LLMRequest, StreamChunk
from llmring.streaming._chunking import Chunker, ChunkingName, get_chunker
from llmring.streaming._events import (
    ChunkEvent,
    CompletedEvent,
    ErrorEvent,
    FullValidationEvent,
    Outcome,
    QuickCheckEvent,
    StreamingDoneEvent,
    StreamingEvent,
)
from llmring.streaming._requirements import (
    PartialValidationResult,
    Requirement,
    ValidationResult,
    judge_chunk,
    validate_text,
)

if TYPE_CHECKING:
    from llmring.service import LLMRing

__all__ = ["ChunkedStream", "stream_with_chunking"]

Source = LLMRequest | AsyncIterator[StreamChunk] | AsyncIterator[str] | Any


def stream_with_chunking(
    source: Source,
    chunking: ChunkingName | str | Chunker = "sentence",
    requirements: Iterable[Requirement] = (),
    *,
    ring: LLMRing | None = None,
) -> ChunkedStream:
    """Chunk ``source`` and check every chunk against ``requirements``; see the module doc.

    ``source`` is an :class:`LLMRequest` (streamed with ``ring.chat_stream``; ``ring`` defaults
    to the bots' shared ring of the running loop), a ``chat_stream`` or any async iterable of
    :class:`StreamChunk` or ``str`` (a ``GenerationThunk``). The returned stream owns the source
    and closes it. Raises ``ValueError`` for an unknown chunking and ``TypeError`` for a source
    that is not async-iterable or a requirement that is not a :class:`Requirement`.
    """
    if not isinstance(source, LLMRequest) and not hasattr(source, "__aiter__"):
        raise TypeError(
            "source must be an LLMRequest, a chat_stream, a GenerationThunk or another async "
            f"iterable of StreamChunk or str, not {type(source).__name__}"
        )
    fresh = []
    for requirement in requirements:
        if not isinstance(requirement, Requirement):
            raise TypeError(f"requirements must be Requirement objects, not {requirement!r}")
        fresh.append(requirement.fresh())
    return ChunkedStream(source, get_chunker(chunking), fresh, ring)


class ChunkedStream(AsyncResource):
    """One run of :func:`stream_with_chunking`; consume it once, with exactly one of
    :meth:`astream` (the released chunks), :meth:`events` (typed events) or :meth:`acomplete`.

    An async context manager; :meth:`aclose` (idempotent) closes the source. Once the run has
    ended, ``completed`` is true and ``success``, ``outcome``, ``full_text`` (the text released),
    ``chunks``, ``streaming_failures``, ``final_validations`` and ``error`` describe it.
    ``final_validations`` stays empty when a chunk check failed or an error ended the run.
    """

    def __init__(
        self, source: Source, chunker: Chunker, requirements: list[Requirement],
        ring: LLMRing | None,
    ) -> None:
        self.chunker = chunker
        self.requirements = requirements
        self.chunks: list[str] = []
        self.streaming_failures: list[PartialValidationResult] = []
        self.final_validations: list[ValidationResult] = []
        self.error: Exception | None = None
        self.outcome: Outcome | None = None
        self._source, self._ring = source, ring
        self._upstream: Any = None  # what we iterate: the source, or ring.chat_stream(source)
        self._iterator: Any = None
        self._consumer: str | None = None
        self._run: AsyncGenerator[StreamingEvent, None] | None = None
        self._closed = False

    @property
    def completed(self) -> bool:
        """The run has ended (whatever the outcome)."""
        return self.outcome is not None

    @property
    def success(self) -> bool:
        return self.outcome == "passed"

    @property
    def full_text(self) -> str:
        """The text released so far: every chunk that passed its checks."""
        return "".join(self.chunks)

    # -- the three ways to consume ---------------------------------------------------------

    def astream(self) -> AsyncIterator[str]:
        """The chunks that passed their checks. Ends early when a check fails; raises the
        exception of the source or of a requirement (after closing the source)."""
        run = self._claim("astream()")
        return self._texts(run)

    def events(self) -> AsyncIterator[StreamingEvent]:
        """Every event of the run, :class:`CompletedEvent` last. Never raises the run's errors:
        they arrive as :class:`ErrorEvent` (``CancelledError`` is never caught)."""
        run = self._claim("events()")
        return self._all(run)

    def __aiter__(self) -> AsyncIterator[str]:
        return self.astream()

    async def acomplete(self) -> Self:
        """Run to the end and return ``self``; raises like :meth:`astream`. After a consumer
        has finished, returns ``self`` at once."""
        if self._consumer is not None and self.completed:
            if self.error is not None:
                raise self.error
            return self
        async for _ in self._texts(self._claim("acomplete()")):
            pass
        return self

    def _claim(self, how: str) -> AsyncGenerator[StreamingEvent, None]:
        if self._consumer is not None:
            raise RuntimeError(
                f"a ChunkedStream has one consumer and is already consumed by {self._consumer}; "
                f"{how} cannot read it again (call stream_with_chunking again for a new run)"
            )
        self._consumer = how
        self._run = self._generate()
        return self._run

    async def _texts(self, run: AsyncGenerator[StreamingEvent, None]) -> AsyncGenerator[str, None]:
        try:
            async for event in run:
                if isinstance(event, ChunkEvent):
                    yield event.text
            if self.error is not None:
                raise self.error
        finally:
            await self.aclose()

    async def _all(
        self, run: AsyncGenerator[StreamingEvent, None]
    ) -> AsyncGenerator[StreamingEvent, None]:
        try:
            async for event in run:
                yield event
        finally:
            await self.aclose()

    # -- the run -------------------------------------------------------------------------------

    async def _generate(self) -> AsyncGenerator[StreamingEvent, None]:
        try:
            iterator = self._open()
            while self.outcome is None:
                item = await anext(iterator, _END)
                chunks = self.chunker.flush() if item is _END else self.chunker.feed(_text_of(item))
                for event in await self._release(chunks):
                    yield event
                if item is _END:
                    break
            if self.outcome is None:
                await self._close_source()
                yield StreamingDoneEvent(self.full_text)
                results = await self._full_checks()
                yield FullValidationEvent(tuple(results))
                passed = all(result.passed for result in results)
                yield self._finish("passed" if passed else "full_check_failed")
        except Exception as exc:  # noqa: BLE001 - reported as ErrorEvent, re-raised by astream()
            self.error = exc
            await self._close_source()
            yield ErrorEvent(exc)
            yield self._finish("error")
        finally:
            await self._close_source()

    def _open(self) -> AsyncIterator[Any]:
        if isinstance(self._source, LLMRequest):
            self._upstream = (self._ring or _shared_ring()).chat_stream(self._source)
        else:
            self._upstream = self._source
        iterator: AsyncIterator[Any] = aiter(self._upstream)
        self._iterator = iterator
        return iterator

    async def _release(self, chunks: list[str]) -> list[StreamingEvent]:
        events: list[StreamingEvent] = []
        for chunk in chunks:
            index = len(self.chunks)
            verdicts = await judge_chunk(self.requirements, chunk)
            events += [QuickCheckEvent(index, r.requirement, r) for r in verdicts]
            failures = [r for r in verdicts if r.failed]
            if failures:
                self.streaming_failures += failures
                await self._close_source()  # drop the provider connection before anything else
                events.append(self._finish("chunk_check_failed"))
                return events
            self.chunks.append(chunk)
            events.append(ChunkEvent(chunk, index))
        return events

    async def _full_checks(self) -> list[ValidationResult]:
        text = self.full_text
        self.final_validations = await validate_text(self.requirements, text)
        return self.final_validations

    def _finish(self, outcome: Outcome) -> CompletedEvent:
        self.outcome = outcome
        return CompletedEvent(outcome == "passed", outcome, self.full_text)

    # -- closing ---------------------------------------------------------------------------------

    async def _close_source(self) -> None:
        """Close the iterator, the stream and the source we were given (each once)."""
        resources = [self._iterator, self._upstream, self._source]
        self._iterator = self._upstream = self._source = None
        closed: list[object] = []
        for resource in resources:
            close = getattr(resource, "aclose", None)
            if close is not None and not any(resource is c for c in closed):
                closed.append(resource)
                await close()

    async def aclose(self) -> None:
        """End the run and close the source (even if the stream was never consumed). Safe to
        call twice. Call it from the consuming task, or once it is done."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._run is not None and not getattr(self._run, "ag_running", False):
                await self._run.aclose()
        finally:
            await self._close_source()


    def __repr__(self) -> str:
        state = self.outcome or ("running" if self._consumer else "not started")
        return f"<ChunkedStream {type(self.chunker).__name__} {state} chunks={len(self.chunks)}>"


def _shared_ring() -> LLMRing:
    from llmring.bots._core import shared_ring

    return shared_ring()


_END = object()


def _text_of(item: object) -> str:
    """``str`` as it is, a StreamChunk's ``delta`` (empty for the terminal chunk and for
    reasoning or tool-call chunks)."""
    text = item.delta if isinstance(item, StreamChunk) else item
    if not isinstance(text, str):
        raise TypeError(f"the source yielded {type(item).__name__}; expected str or StreamChunk")
    return text
