"""Deadlines and interruption for any stream of chunks: :class:`StreamingManager`.

A :class:`ManagedStream` wraps an async iterable of :class:`StreamChunk` (a ``ChatStream``,
:func:`create_mock_stream`, ...). Its deadlines are kept by the same
:class:`~llmring._deadlines.ProviderClock` as ``ChatStream``'s, so they count only the time
spent waiting on the source, never the consumer's own awaits between chunks.

Every way a managed stream stops (end, error, deadline, ``interrupt``, ``aclose``, leaving the
manager, cancellation) closes the source. A deadline or an interrupt raises
``StreamInterruptedError`` whose ``partial_response`` is exactly the text delivered so far;
``CancelledError`` always propagates as it is.

``interrupt`` may come from any task: it is the stream handle's stop (``llmring._handle``). If
the consumer is waiting on the source at that moment, its wait is cancelled (told apart from
any other cancellation with ``Task.uncancel``, as ``asyncio.timeout`` does) and the consumer
closes the source; otherwise a background task closes it at once and the consumer's next wait
raises.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import AsyncGenerator, AsyncIterable

from llmring._deadlines import ProviderClock
from llmring._handle import StreamHandle
from llmring._resource import AsyncResource, iterating
from llmring.exceptions import ProviderTimeoutError, StreamInterruptedError
from llmring.schemas import StreamChunk, StreamTimeouts
from llmring.streaming._response import StreamingResponse

__all__ = ["ManagedStream", "StreamingManager"]

logger = logging.getLogger("llmring")


class ManagedStream(StreamHandle[StreamChunk]):
    """One stream run by a :class:`StreamingManager`: an async iterator and context manager.

    One consumer at a time (``StreamBusyError``). ``aclose()`` is idempotent and closes the
    source; from another task it interrupts the consumer as ``interrupt`` does. ``response``
    is a :class:`StreamingResponse` (without kept chunks) of what was delivered so far.
    """

    _what = "a ManagedStream"

    def __init__(
        self,
        manager: StreamingManager,
        source: AsyncIterable[StreamChunk],
        stream_id: str,
        timeouts: StreamTimeouts,
    ) -> None:
        self.stream_id = stream_id
        response = self.response = StreamingResponse(stream_id, keep_chunks=False)
        self._manager = manager
        super().__init__(lambda: _managed(source, timeouts, response))

    def __repr__(self) -> str:
        state = "closed" if self._ended else "stopping" if self._stop else "running"
        return f"<ManagedStream {self.stream_id} {state} chunks={self.response.chunk_count}>"

    def _finished(self) -> bool:
        return self.response.is_complete

    def _interrupted(self, reason: str) -> StreamInterruptedError:
        return _stopped(self.response, reason)

    def _release(self) -> None:
        self._manager._forget(self)

    def _interrupt(self, reason: str) -> bool:
        """Stop the stream from any task; ``False`` when it had already stopped."""
        if not self._request_stop(reason, interrupt=True):
            return False
        if self._waiter is None:
            self._manager._close_soon(self)
        return True

    async def _close_quietly(self) -> None:
        """Close the source in the background after an interrupt: errors are logged."""
        try:
            await self._close()
        except Exception:
            logger.warning("closing interrupted stream %s failed", self.stream_id, exc_info=True)


async def _managed(
    source: AsyncIterable[StreamChunk], timeouts: StreamTimeouts, response: StreamingResponse
) -> AsyncGenerator[StreamChunk, None]:
    """The chunks of ``source`` under the deadlines, each added to ``response``; the source is
    closed on every exit. (It never refers to its :class:`ManagedStream`.)"""
    clock: ProviderClock[StreamChunk] = ProviderClock()
    unbounded = clock.start_candidate(timeouts)
    async with iterating(source) as chunks:
        while True:
            try:
                if unbounded:
                    chunk = await chunks.__anext__()
                else:
                    delivered = response.chunk_count > 0
                    chunk = await clock.next_event(chunks, delivered, strict=True)
            except StopAsyncIteration:
                return
            except ProviderTimeoutError as exc:
                if exc is not clock.expired:
                    raise
                raise _stopped(response, exc.message) from exc
            response.add_chunk(chunk)
            yield chunk


def _stopped(response: StreamingResponse, reason: str) -> StreamInterruptedError:
    text = response.complete_text
    return StreamInterruptedError(
        f"stream {response.stream_id} stopped: {reason}; partial_response holds the "
        f"{len(text)} characters delivered",
        partial_response=text,
        usage=None,
        provider=response.provider,
        model=response.model,
    )


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
            await stream._wait_closed()
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
