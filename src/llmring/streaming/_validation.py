"""Chunked streaming with validation: check each chunk before it is released (docs/validation.md).

``stream_with_chunking(source, "sentence", [requirements])`` returns a :class:`ChunkedStream` at
once (``await``-ing it, as mellea's code does, gives the same stream); nothing runs until it is
read. Deltas from the source are cut into chunks; each chunk is checked by every requirement
concurrently and released only when all have answered. The first ``"fail"`` closes the source
at once (the provider connection is dropped) and ends the run. When the source ends, each
requirement checks the full text. ``astream()`` and ``events()`` may read one run together:
a :class:`Fanout` hands every event to both, with no background task. The run itself is a
stream handle (``llmring._handle``): ``aclose()`` from any task stops it, and a view waiting
in another task then raises :class:`GenerationClosedError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Self

from llmring._handle import StreamHandle
from llmring._resource import AsyncResource, close_each
from llmring.exceptions import StreamBusyError
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
from llmring.streaming._fanout import Fanout
from llmring.streaming._requirements import (
    Check,
    PartialValidationResult,
    Requirement,
    ValidationResult,
    bind_checks,
    judge_chunk,
    validate_text,
)
from llmring.streaming._thunks import GenerationClosedError

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
    Requirements may be written llmring's way or mellea's (see :class:`Requirement`).
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
    """One run of :func:`stream_with_chunking`. Read it with :meth:`astream` (the released
    chunks), :meth:`events` (typed events) or both at once (say in ``asyncio.gather``), each
    once; :meth:`acomplete` runs it to the end alongside them, or alone.

    An async context manager; :meth:`aclose` (idempotent, from any task) closes the source. A
    view waiting in another task then raises :class:`GenerationClosedError`, whose
    ``partial_response`` is the text released so far. Once the run has
    ended, ``outcome`` says how, and ``success``, ``completed``, ``full_text`` (the text
    released), ``chunks``, ``streaming_failures``, ``final_validations`` and ``error``
    describe it. ``final_validations`` stays empty when a chunk check failed or an error ended
    the run.
    """

    def __init__(
        self,
        source: Source,
        chunker: Chunker,
        requirements: list[Requirement],
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
        self._checks: list[Check] = []
        self._claimed: set[str] = set()
        self._run = _Run(self)
        self._fanout: Fanout[StreamingEvent] | None = None
        self._closed = False

    def __await__(self) -> Generator[Any, None, Self]:
        """``await stream_with_chunking(...)``, as mellea's code writes it, is the stream
        itself; nothing starts until it is read."""
        return self._itself().__await__()

    async def _itself(self) -> Self:
        return self

    @property
    def completed(self) -> bool:
        """The source ran to its end with no chunk check failing and no error: mellea's
        meaning. False while running, after a failed chunk check, an error or an early close
        (``outcome`` tells them apart; ``success`` also needs the full-text checks)."""
        return self.outcome in ("passed", "full_check_failed")

    @property
    def success(self) -> bool:
        return self.outcome == "passed"

    @property
    def full_text(self) -> str:
        """The text released so far: every chunk that passed its checks."""
        return "".join(self.chunks)

    # -- reading ---------------------------------------------------------------------------

    def astream(self) -> AsyncIterator[str]:
        """The chunks that passed their checks. Ends early when a check fails; raises the
        exception of the source or of a requirement (after closing the source)."""
        return self._texts(self._view("astream()"))

    def events(self) -> AsyncIterator[StreamingEvent]:
        """Every event of the run, :class:`CompletedEvent` last. Never raises the run's errors:
        they arrive as :class:`ErrorEvent` (``CancelledError`` is never caught)."""
        return self._view("events()")

    def __aiter__(self) -> AsyncIterator[str]:
        return self.astream()

    async def acomplete(self) -> Self:
        """Run to the end and return ``self``; raises like :meth:`astream`. Reads alongside
        :meth:`astream` and :meth:`events` if they run; after the end, returns at once.
        Raises :class:`GenerationClosedError` if the stream was closed before its end."""
        if self.outcome is None and not self._closed:
            async with aclosing(self._view(None)) as events:
                async for _ in events:
                    pass
        if self.error is not None:
            raise self.error
        if self.outcome is None:
            raise GenerationClosedError("the chunked stream was closed before its run ended")
        return self

    def _view(self, how: str | None) -> AsyncGenerator[StreamingEvent, None]:
        """A reader of the run's events, from now on; ``how`` names a view read at most once."""
        if how is not None:
            if how in self._claimed:
                raise StreamBusyError(
                    f"{how} was already called on this ChunkedStream: each view has one "
                    "consumer (astream() and events() may read the same run together; call "
                    "stream_with_chunking again for a new run)"
                )
            self._claimed.add(how)
        if self._fanout is None:  # the last reader gone, nobody needs the source: close it
            self._fanout = Fanout(self._run, "the chunked stream", self.aclose)
        return self._fanout.reader()

    async def _texts(
        self, events: AsyncGenerator[StreamingEvent, None]
    ) -> AsyncGenerator[str, None]:
        async with aclosing(events):
            async for event in events:
                if isinstance(event, ChunkEvent):
                    yield event.text
        if self.error is not None:
            raise self.error

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
                yield FullValidationEvent(results)
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
            self._ring = self._ring or _default_ring()
            self._upstream = self._ring.chat_stream(self._source)
        else:
            self._upstream = self._source
        self._checks = bind_checks(self.requirements, self._backend, self)
        iterator: AsyncIterator[Any] = aiter(self._upstream)
        self._iterator = iterator
        return iterator

    def _backend(self) -> LLMRing:
        """What mellea-style requirements get as ``backend``: the ring of this run."""
        self._ring = self._ring or _default_ring()
        return self._ring

    async def _release(self, chunks: list[str]) -> list[StreamingEvent]:
        events: list[StreamingEvent] = []
        for chunk in chunks:
            index = len(self.chunks)
            if self._checks:
                verdicts = await judge_chunk(self._checks, chunk)
                failures = [r for r in verdicts if r.failed]
                events.append(QuickCheckEvent(index, not failures, verdicts))
                if failures:
                    self.streaming_failures += failures
                    await self._close_source()  # drop the provider connection first
                    events.append(self._finish("chunk_check_failed"))
                    return events
            self.chunks.append(chunk)
            events.append(ChunkEvent(chunk, index))
        return events

    async def _full_checks(self) -> list[ValidationResult]:
        self.final_validations = await validate_text(self._checks, self.full_text)
        return self.final_validations

    def _finish(self, outcome: Outcome) -> CompletedEvent:
        self.outcome = outcome
        return CompletedEvent(outcome == "passed", outcome, self.full_text)

    # -- closing ---------------------------------------------------------------------------------

    async def _close_source(self) -> None:
        """Close the iterator, the stream and the source we were given (each once)."""
        resources = [self._iterator, self._upstream, self._source]
        self._iterator = self._upstream = self._source = None
        await close_each(*resources)

    async def aclose(self) -> None:
        """End the run and close the source (even if the stream was never consumed). Safe to
        call twice, and from any task: a view waiting in another task then raises
        :class:`GenerationClosedError`, and the source is closed before this returns."""
        self._closed = True
        try:
            await self._run.aclose()
        finally:
            await self._close_source()

    def __repr__(self) -> str:
        state = self.outcome or ("running" if self._fanout else "not started")
        return f"<ChunkedStream {type(self.chunker).__name__} {state} chunks={len(self.chunks)}>"


class _Run(StreamHandle[StreamingEvent]):
    """The events of one run of a :class:`ChunkedStream`, read by its :class:`Fanout`."""

    _what = "a ChunkedStream"

    def __init__(self, stream: ChunkedStream) -> None:
        super().__init__(stream._generate)
        self._stream = stream

    def _finished(self) -> bool:
        return self._stream.outcome is not None

    def _interrupted(self, reason: str) -> GenerationClosedError:
        text = self._stream.full_text
        return GenerationClosedError(
            f"the chunked stream was stopped ({reason}); partial_response holds the "
            f"{len(text)} characters released",
            partial_response=text,
        )


def _default_ring() -> LLMRing:
    from llmring._default_ring import default_ring  # imports the facade: only when needed

    return default_ring()


_END = object()


def _text_of(item: object) -> str:
    """``str`` as it is, a StreamChunk's ``delta`` (empty for the terminal chunk and for
    reasoning or tool-call chunks)."""
    text = item.delta if isinstance(item, StreamChunk) else item
    if not isinstance(text, str):
        raise TypeError(f"the source yielded {type(item).__name__}; expected str or StreamChunk")
    return text
