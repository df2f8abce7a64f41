"""Generations that run in the background: :func:`generate`, :class:`GenerationThunk` and
:func:`wait_for_all` (docs/generation.md).

A thunk owns one task that reads a ``chat_stream`` into a list of text pieces. It needs only
that stream (``LLMRing.generate`` passes it one), never the ring. The one reader (``astream``
or ``async for``, one task at a time: ``StreamBusyError`` otherwise) keeps a cursor into that
list; the task pauses while ``buffer`` pieces are waiting for it, so a slow reader never lets
the provider run far ahead. ``avalue()`` wants everything anyway, so it lifts that limit.
Failures are stored, never left in the task, and raised to whoever reads; ``aclose()`` cancels
the task, and the stream's ``finally`` closes the provider's connection.

Two ends, as in mellea's ``ModelOutputThunk``: :meth:`done` is the end of the generation,
:meth:`is_computed` the end of the reading (set by the read that consumes the end), so the loop
``while not thunk.is_computed(): await thunk.astream()`` never stops with text unread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from llmring._handle import StreamHandle
from llmring.exceptions import StreamInterruptedError
from llmring.schemas import LLMRequest, LLMResponse

if TYPE_CHECKING:
    from llmring._stream import ChatStream

__all__ = [
    "GenerationClosedError",
    "GenerationErrors",
    "GenerationThunk",
    "generate",
    "wait_for_all",
]

# The event loop keeps only weak references to tasks: a thunk nobody holds must still finish.
_RUNNING: set[asyncio.Task[None]] = set()


class GenerationClosedError(StreamInterruptedError):
    """The generation was closed (``aclose()`` or a cancelled task) before it completed.

    A :class:`~llmring.exceptions.StreamInterruptedError`: ``partial_response`` is the text
    received before the close, which a reader is handed before this error.
    """


class GenerationErrors(ExceptionGroup[Exception]):
    """Every failure of a :func:`wait_for_all` call; each one has a note naming its index and
    model. ``results`` holds each generation's text in order, ``None`` where it failed."""

    results: list[str | None]


class GenerationThunk(StreamHandle[str]):
    """One generation already running in the background; see :func:`generate`.

    Read it whole (``await avalue()``), piece by piece (``await astream()``, ``async for``;
    one reader at a time) or stop it (``await aclose()``, or leave ``async with``).
    """

    _what = "a GenerationThunk"
    _restarts = True  # the reader's state is the thunk's: a failed read leaves nothing behind

    def __init__(
        self,
        stream: ChatStream,
        *,
        buffer: int = 256,
        _on_complete: Callable[[LLMResponse], None] | None = None,
    ) -> None:
        if buffer < 1:
            raise ValueError("buffer must be at least 1 chunk")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "generate() starts a background task and needs a running event loop: call it "
                "from async code (for example inside asyncio.run(main()))"
            ) from None
        super().__init__(self._read_pieces)
        self.request = stream.request
        self._stream = stream
        self._buffer = buffer
        self._bounded = True
        self._on_complete = _on_complete
        self._pieces: list[str] = []
        self._cursor = 0  # pieces already handed to the reader
        self._computed = False  # the whole outcome has been handed out (see is_computed)
        self._error: BaseException | None = None
        self._response: LLMResponse | None = None
        self._progress = asyncio.Event()  # a piece arrived or the generation finished
        self._drained = asyncio.Event()  # the reader advanced, or the limit was lifted
        self._generation_done = asyncio.Event()
        name = f"llmring.generate {self.request.model}"
        self._task = asyncio.create_task(self._produce(), name=name)
        _RUNNING.add(self._task)
        self._task.add_done_callback(self._settle)

    def __repr__(self) -> str:
        state = "computed" if self._computed else "done" if self.done() else "running"
        return f"<GenerationThunk {self.request.model!r} {state} chars={len(self.text_so_far)}>"

    # -- the background work ----------------------------------------------------------------

    async def _produce(self) -> None:
        try:
            async with self._stream as stream:
                async for chunk in stream:
                    if not chunk.delta:
                        continue  # reasoning, tool-call fragments, the terminal chunk
                    self._pieces.append(chunk.delta)
                    self._progress.set()
                    while self._bounded and len(self._pieces) - self._cursor >= self._buffer:
                        self._drained.clear()
                        await self._drained.wait()
                response = stream.response
            if self._on_complete is not None:
                self._on_complete(response)  # before anyone waiting on the value wakes up
            self._response = response
        except Exception as exc:  # noqa: BLE001 - kept for every reader, never lost in the task
            self._error = exc
        finally:
            self._finish()

    def _finish(self) -> None:
        if self._error is None and self._response is None:  # cancelled, maybe before it began
            self._error = self._closed_error("cancelled")
        self._generation_done.set()
        self._progress.set()

    def _settle(self, task: asyncio.Task[None]) -> None:
        _RUNNING.discard(task)
        self._finish()  # a task cancelled before its first step never ran its own finally

    # -- state ------------------------------------------------------------------------------

    def done(self) -> bool:
        """True once nothing more will come: completed, failed or closed (``avalue()`` would
        not wait), whether or not the text has been read."""
        return self._generation_done.is_set()

    def is_computed(self) -> bool:
        """True once the whole outcome has been handed out: by the reader's read that reached
        the end (returning the last text, or raising the generation's error), by ``avalue()``,
        or by ``aclose()`` stopping the generation. Mellea's meaning: a reader looping until
        it is true gets all the text."""
        return self._computed

    @property
    def value(self) -> str | None:
        """The whole text once :meth:`is_computed` (``None`` before, as in mellea); raises the
        generation's error if it failed."""
        if not self._computed:
            return None
        if self._error is not None:
            raise self._error
        return "".join(self._pieces)

    @property
    def text_so_far(self) -> str:
        """All the text received from the provider so far, read or not."""
        return "".join(self._pieces)

    @property
    def response(self) -> LLMResponse:
        """The assembled reply (usage, finish_reason, tool_calls) once completed.

        Raises ``RuntimeError`` while running, and the generation's error if it failed.
        """
        if not self.done():
            raise RuntimeError("the generation is still running; await avalue() first")
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response

    # -- reading ----------------------------------------------------------------------------

    async def avalue(self) -> str:
        """The whole text, once the generation completes; raises its error if it failed.

        Any number of tasks may await it, alongside the one reader.
        """
        self._bounded = False  # the caller wants everything: pacing would only deadlock
        self._drained.set()
        await self._generation_done.wait()
        self._computed = True
        if self._error is not None:
            raise self._error
        return "".join(self._pieces)

    async def astream(self) -> str:
        """The text that arrived since the previous call (or since the start), as soon as
        there is any.

        Returns ``""`` only at the end: the generation completed and everything has been
        returned. Raises the generation's error once the text received before it has been
        returned. ``is_computed()`` becomes true on the call that returns the last text after
        the generation ended (or returns ``""``, or raises).
        """
        try:
            first = await self.__anext__()  # one reader at a time, as for async for
        except StopAsyncIteration:
            return ""
        fresh = first + "".join(self._pieces[self._cursor :])  # no await: still this reader's
        self._advance(len(self._pieces))
        return fresh

    async def _read_pieces(self) -> AsyncGenerator[str, None]:
        """The reader behind ``async for`` and ``astream``: each piece after the cursor, as it
        arrives. Its state is the thunk's, so after a read raises (the generation's error, a
        cancelled reader) the next read starts a new one where the cursor stands."""
        while True:
            await self._wait_for_text()
            if self._cursor == len(self._pieces):
                self._computed = True
                return
            piece = self._pieces[self._cursor]
            self._advance(self._cursor + 1)
            yield piece

    async def _wait_for_text(self) -> None:
        """Wait for an unread piece or the end; at the end with nothing unread, raise the
        generation's error if there is one."""
        while self._cursor == len(self._pieces) and not self.done():
            self._progress.clear()
            await self._progress.wait()
        if self._cursor == len(self._pieces) and self._error is not None:
            self._computed = True
            raise self._error

    def _advance(self, cursor: int) -> None:
        self._cursor = cursor
        self._drained.set()
        if cursor == len(self._pieces) and self.done() and self._error is None:
            self._computed = True  # this read consumed the end

    # -- closing ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Cancel the generation and close the provider's stream; safe to call twice.

        After a completed generation it changes nothing. Otherwise readers, a reader waiting
        in another task included, get the text received so far and then
        :class:`GenerationClosedError`.
        """
        if not self._task.done():
            if self._error is None:
                self._error = self._closed_error("closed")
            self._task.cancel()
            self._computed = True  # nothing more will be read: the reading loop must stop
        # asyncio.wait never raises the task's outcome; our own cancellation still propagates
        await asyncio.wait([self._task])
        self._finish()

    def _closed_error(self, how: str) -> GenerationClosedError:
        text = self.text_so_far
        return GenerationClosedError(
            f"{self.request.model}: the generation was {how} before it completed; "
            f"partial_response holds the {len(text)} characters received",
            partial_response=text,
        )


class _ChatStreams(Protocol):
    """What :func:`generate` needs of a ring (an ``LLMRing``): a ``chat_stream``."""

    def chat_stream(self, request: LLMRequest) -> ChatStream: ...


def generate(ring: _ChatStreams, request: LLMRequest, *, buffer: int = 256) -> GenerationThunk:
    """Start streaming ``request`` in the background and return its thunk at once.

    Needs a running event loop (``RuntimeError`` otherwise). An unknown alias raises here; any
    later failure is raised to whoever reads the thunk. At most ``buffer`` chunks wait between
    the provider and a slow reader.
    """
    return GenerationThunk(ring.chat_stream(request), buffer=buffer)


async def wait_for_all(thunks: Iterable[GenerationThunk]) -> list[str]:
    """The texts of all ``thunks``, in order, once every one has finished.

    Raises :class:`GenerationErrors` with every failure (each noted with its index and model)
    if any failed; the others still run to completion, and their texts are in its ``results``.
    """
    thunks = list(thunks)
    outcomes = await asyncio.gather(*(t.avalue() for t in thunks), return_exceptions=True)
    results: list[str | None] = []
    errors: list[Exception] = []
    for index, (thunk, outcome) in enumerate(zip(thunks, outcomes, strict=True)):
        if isinstance(outcome, str):
            results.append(outcome)
            continue
        if not isinstance(outcome, Exception):
            raise outcome  # a BaseException (KeyboardInterrupt, ...) is never collected
        note = f"generation {index} of {len(thunks)} ({thunk.request.model})"
        if note not in getattr(outcome, "__notes__", ()):
            outcome.add_note(note)
        results.append(None)
        errors.append(outcome)
    if errors:
        group = GenerationErrors(f"{len(errors)} of {len(thunks)} generations failed", errors)
        group.results = results
        raise group
    return [text for text in results if text is not None]
