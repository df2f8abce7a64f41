"""Deadlines and interruption for any stream of chunks: :class:`StreamingManager`.

A :class:`ManagedStream` wraps an async iterable of :class:`StreamChunk` (a ``ChatStream``,
:func:`create_mock_stream`, ...). Its deadlines are kept by the same
:class:`~llmring._deadlines.ProviderClock` as ``ChatStream``'s, so they count only the time
spent waiting on the source, never the consumer's own awaits between chunks.

Every way a managed stream stops (end, error, deadline, ``interrupt``, ``aclose``, leaving the
manager, cancellation) closes the source. A deadline or an interrupt raises
``StreamInterruptedError`` whose ``partial_response`` is exactly the text delivered so far;
``CancelledError`` always propagates as it is.

``interrupt`` may come from any task. If the consumer is waiting on the source at that moment,
its wait is cancelled (``Task.cancel``, told apart from any other cancellation with
``Task.uncancel`` as ``asyncio.timeout`` does) and the consumer closes the source; otherwise a
background task closes it at once and the consumer's next wait raises.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncIterable
from typing import Self

from llmring._deadlines import ProviderClock
from llmring._resource import AsyncResource
from llmring.exceptions import ProviderTimeoutError, StreamInterruptedError
from llmring.schemas import StreamChunk, StreamTimeouts
from llmring.streaming._response import StreamingResponse, closer_of

__all__ = ["ManagedStream", "StreamingManager"]

logger = logging.getLogger("llmring")


class ManagedStream(AsyncResource):
    """One stream run by a :class:`StreamingManager`: an async iterator and context manager.

    One consumer only. ``aclose()`` is idempotent and closes the source. ``response`` is a
    :class:`StreamingResponse` (without kept chunks) of what was delivered so far.
    """

    def __init__(
        self,
        manager: StreamingManager,
        source: AsyncIterable[StreamChunk],
        stream_id: str,
        timeouts: StreamTimeouts,
    ) -> None:
        self.stream_id = stream_id
        self.response = StreamingResponse(stream_id, keep_chunks=False)
        self._manager = manager
        self._source = aiter(source)
        self._aclose = closer_of(source, self._source)
        self._clock: ProviderClock[StreamChunk] = ProviderClock()
        self._unbounded = self._clock.start_candidate(timeouts)
        self._waiter: asyncio.Task[object] | None = None  # the consumer, while it waits
        self._cancel_sent = False
        self._stop_reason: str | None = None  # why interrupt() stopped the stream
        self._done = False  # nothing more will be yielded
        self._closing = False
        self._closed = asyncio.Event()  # set once the source is closed

    def __repr__(self) -> str:
        state = "closed" if self._done else "stopping" if self._stop_reason else "running"
        return f"<ManagedStream {self.stream_id} {state} chunks={self.response.chunk_count}>"

    # -- iteration ------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamChunk:
        if self._done:
            raise StopAsyncIteration
        if self._stop_reason is not None:  # interrupted between two waits
            await self.aclose()
            raise self._interrupted(self._stop_reason)
        if self._waiter is not None:
            raise RuntimeError("a managed stream has one consumer; iterate it from one task only")
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a managed stream must be iterated inside an asyncio task")
        cancelling = task.cancelling()
        self._waiter = task
        try:
            chunk = await self._pull()
        except BaseException as exc:
            self._waiter = None
            error, cause = self._translate(exc, task, cancelling)
            await self.aclose()
            if error is exc:
                raise
            raise error from cause
        self._waiter = None
        if self._cancel_sent:  # the source swallowed the cancellation and answered anyway
            task.uncancel()
            await self.aclose()
            raise self._interrupted(self._stop_reason or "interrupted")
        self.response.add_chunk(chunk)
        return chunk

    async def _pull(self) -> StreamChunk:
        if self._unbounded:
            return await self._source.__anext__()
        delivered = self.response.chunk_count > 0
        return await self._clock.next_event(self._source, delivered, strict=True)

    def _translate(
        self, exc: BaseException, task: asyncio.Task[object], cancelling: int
    ) -> tuple[BaseException, BaseException | None]:
        """What the consumer sees for ``exc``, and its cause."""
        if self._cancel_sent:
            self._cancel_sent = False
            reason = self._stop_reason or "interrupted"
            # another cancellation (not ours) is pending too: that one wins
            if task.uncancel() > cancelling and isinstance(exc, asyncio.CancelledError):
                return exc, None
            if self.response.is_complete:
                return StopAsyncIteration(), None
            return self._interrupted(reason), None
        if isinstance(exc, ProviderTimeoutError) and exc is self._clock.expired:
            return self._interrupted(exc.message), exc
        return exc, None

    def _interrupted(self, reason: str) -> StreamInterruptedError:
        text = self.response.complete_text
        return StreamInterruptedError(
            f"stream {self.stream_id} stopped: {reason}; partial_response holds the "
            f"{len(text)} characters delivered",
            partial_response=text,
            usage=None,
            provider=self.response.provider,
            model=self.response.model,
        )

    # -- stopping -------------------------------------------------------------------------

    def _interrupt(self, reason: str) -> bool:
        """Stop the stream from any task; ``False`` when it had already stopped."""
        if self._done or self._stop_reason is not None:
            return False
        self._stop_reason = reason
        self._manager._forget(self)
        if self.response.is_complete:
            self._done = True  # the terminal chunk was delivered: nothing is lost, just end
        if self._waiter is not None:
            self._cancel_sent = True
            self._waiter.cancel()
        else:
            self._manager._close_soon(self)
        return True

    async def aclose(self) -> None:
        """Stop the stream and close its source. Safe to call twice, and from any task."""
        self._done = True
        self._manager._forget(self)
        if self._waiter is not None and self._waiter is not asyncio.current_task():
            # another task is inside the source: stop its wait; that task closes the source
            self._stop_reason = self._stop_reason or "closed by aclose()"
            if not self._cancel_sent:
                self._cancel_sent = True
                self._waiter.cancel()
            await self._closed.wait()
            return
        await self._close_source()

    async def _close_source(self) -> None:
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            if self._aclose is not None:
                await self._aclose()
        finally:
            self._closed.set()

    async def _close_quietly(self) -> None:
        """Close the source in the background after an interrupt: errors are logged."""
        try:
            await self._close_source()
        except Exception:
            logger.warning("closing interrupted stream %s failed", self.stream_id, exc_info=True)


class StreamingManager(AsyncResource):
    """Runs streams under deadlines and lets any task interrupt them.

    ``timeout`` bounds the total time spent waiting on a stream's source, ``idle_timeout``
    each single wait (for the first chunk and between chunks); ``None`` means no limit and
    ``0`` expires at the first wait. Both are defaults for :meth:`stream_with_timeout`.
    Leaving ``async with`` (or ``aclose()``) stops and closes every stream still running.
    """

    def __init__(self, timeout: float | None = None, idle_timeout: float | None = None) -> None:
        self.timeout = _seconds("timeout", timeout)
        self.idle_timeout = _seconds("idle_timeout", idle_timeout)
        self._streams: dict[str, ManagedStream] = {}
        self._closers: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return (
            f"<StreamingManager timeout={self.timeout} idle_timeout={self.idle_timeout} "
            f"active={len(self._streams)}>"
        )

    @property
    def active(self) -> list[str]:
        """The ids of the streams still running, oldest first."""
        return list(self._streams)

    def stream_with_timeout(
        self,
        stream: AsyncIterable[StreamChunk],
        timeout: float | None = None,
        *,
        idle_timeout: float | None = None,
        stream_id: str | None = None,
    ) -> ManagedStream:
        """Wrap ``stream``; ``timeout`` and ``idle_timeout`` override the manager's defaults.

        ``stream_id`` (default: a new uuid hex) must not name a stream still running.
        """
        total = _seconds("timeout", timeout)
        idle = _seconds("idle_timeout", idle_timeout)
        total = self.timeout if total is None else total
        idle = self.idle_timeout if idle is None else idle
        stream_id = stream_id if stream_id is not None else uuid.uuid4().hex
        if stream_id in self._streams:
            raise ValueError(f"a stream with id {stream_id!r} is already running")
        timeouts = StreamTimeouts(total=total, first_chunk=idle, idle=idle)
        managed = ManagedStream(self, stream, stream_id, timeouts)
        self._streams[stream_id] = managed
        return managed

    def interrupt(self, stream_id: str) -> bool:
        """Stop the running stream ``stream_id``; ``False`` when no such stream is running.

        Its consumer gets ``StreamInterruptedError`` (with the text delivered so far) at its
        current or next wait, and its source is closed promptly.
        """
        stream = self._streams.get(stream_id)
        return stream is not None and stream._interrupt("interrupted by StreamingManager")

    async def aclose(self) -> None:
        """Stop every running stream and wait until their sources are closed."""
        streams = list(self._streams.values())
        for stream in streams:
            stream._interrupt("the StreamingManager was closed")
        for stream in streams:
            await stream._closed.wait()
        while self._closers:
            await asyncio.gather(*self._closers)

    # -- for ManagedStream ----------------------------------------------------------------

    def _forget(self, stream: ManagedStream) -> None:
        if self._streams.get(stream.stream_id) is stream:
            del self._streams[stream.stream_id]

    def _close_soon(self, stream: ManagedStream) -> None:
        task = asyncio.get_running_loop().create_task(stream._close_quietly())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)


def _seconds(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds or None, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return float(value)
