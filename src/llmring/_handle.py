"""``StreamHandle``: the one handle behind every stream llmring hands out.

``ChatStream``, ``AgentStream``, ``ManagedStream``, a ``GenerationThunk``'s reads and the run
behind a ``ChunkedStream`` are each an async iterator over an async generator of their own.
The rules they share are written here, once (docs/stream-contract.md):

* An async iterator and an async context manager; ``aclose()`` is idempotent. The generator
  starts on the first read, never before.
* **One consumer at a time.** A read while another task's read is waiting raises
  :class:`~llmring.exceptions.StreamBusyError` at once (never a hang, never two readers
  splitting the items).
* **Closing from the consuming task** (``break`` then ``aclose()``, leaving ``async with``)
  ends the stream: a later read raises ``StopAsyncIteration``.
* **Closing from any other task** (a Stop button, a server that saw its client leave) closes
  the generator, and with it the provider's connection, before ``aclose()`` returns. The
  consumer gets ``StreamInterruptedError`` with the text delivered so far: at once if it was
  waiting for the next item, else at its next read. A stream that had already delivered its
  last item just ends. If the consumer's own task is being cancelled at that moment, its
  ``CancelledError`` propagates instead.

Why a cancellation: a generator suspended in an ``await`` (the provider's next bytes) can only
be resumed by the task that drives it, so no other task can close it (``aclose():
asynchronous generator is already running``). The closing task cancels the consumer's wait
instead, as ``asyncio.timeout`` does; the generator's ``finally`` blocks then run in the
consumer's task, the handle tells its own cancellation from any other with ``Task.uncancel``,
and the closing task waits until the generator is closed.

The running generator must never refer back to its handle: then a consumer that drops the
handle after a bare ``break`` leaves nothing holding the generator, and the event loop closes
it at once (asyncio's async-generator finaliser).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncGenerator, Callable
from typing import Any, ClassVar, Generic, Self, TypeVar

from llmring._resource import AsyncResource
from llmring.exceptions import StreamBusyError, StreamInterruptedError

__all__ = ["StreamHandle"]

T = TypeVar("T")

_Task = asyncio.Task[Any]
_TaskOn = Callable[[asyncio.AbstractEventLoop], "_Task | None"]

if sys.version_info >= (3, 12):
    _task_on: _TaskOn = asyncio.current_task  # written in C since 3.12
else:  # 3.11's current_task() is Python code around this lookup plus a getpid() per call
    _task_on: _TaskOn = asyncio.tasks._current_tasks.get  # type: ignore[attr-defined]


class StreamHandle(AsyncResource, Generic[T]):
    """An async iterator over the generator that ``start()`` returns; see the module docstring.

    Subclasses name themselves in ``_what`` and may override :meth:`_finished` (the last item
    was delivered), :meth:`_interrupted` (what the consumer gets after a close from another
    task) and :meth:`_release` (the stream stopped or ended).
    """

    #: names the stream in errors
    _what: ClassVar[str] = "the stream"
    #: the generator reads state kept elsewhere (a thunk's buffer): after a read raises, the
    #: next read starts a fresh generator instead of finding the stream ended
    _restarts: ClassVar[bool] = False

    _loop: asyncio.AbstractEventLoop  # set by the first read

    def __init__(self, start: Callable[[], AsyncGenerator[T, None]]) -> None:
        self._start = start
        self._gen: AsyncGenerator[T, None] | None = None
        self._waiter: _Task | None = None  # the task waiting on the generator right now
        self._consumer: _Task | None = None  # the task that read last
        self._stop: str | None = None  # why the stream was stopped, once it was
        self._interrupt_due = False  # the consumer's next read raises the interruption
        self._cancelled: _Task | None = None  # the waiter whose wait the stop cancelled
        self._ended = False  # the generator finished or was closed
        self._closing = False
        self._closed: asyncio.Event | None = None  # made when someone waits for the end

    # -- reading --------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        gen = self._gen
        if gen is None or self._waiter is not None or self._stop is not None:
            gen = await self._prepare()
        task = self._waiter = self._consumer = _task_on(self._loop)
        try:
            item = await gen.__anext__()
        except BaseException as exc:
            self._waiter = None
            if self._stop is None:
                self._generator_raised()
                raise
            error = await self._stopped_while_waiting(exc, task)
            if error is exc:
                raise
            raise error from None
        self._waiter = None
        if self._stop is not None:  # the generator swallowed the cancellation
            raise await self._stopped_while_waiting(None, task) from None
        return item

    async def _prepare(self) -> AsyncGenerator[T, None]:
        """The slow path of a read: another reader, a stopped stream, or the first read."""
        if self._waiter is not None:
            raise StreamBusyError(
                f"{self._what} has one consumer and another task is reading it now; "
                "read it from one task at a time"
            )
        if self._stop is not None:
            await self._close()
            raise self._outcome()
        if self._gen is None:
            self._loop = asyncio.get_running_loop()
            if _task_on(self._loop) is None:
                raise RuntimeError(f"{self._what} must be read inside an asyncio task")
            self._gen = self._start()
        return self._gen

    def _generator_raised(self) -> None:
        if self._restarts:
            self._gen = None
        else:
            self._end()

    async def _stopped_while_waiting(
        self, raised: BaseException | None, task: _Task | None
    ) -> BaseException:
        """A stop arrived while ``task`` waited: undo our cancellation, close the generator and
        return what the read raises. ``raised`` is what the wait raised (``None`` when the
        generator swallowed the cancellation and produced an item anyway)."""
        ours = self._cancelled is task
        pending = 0
        if ours and task is not None:
            self._cancelled = None
            pending = task.uncancel()
        await self._close()
        if isinstance(raised, asyncio.CancelledError) and (pending or not ours):
            return raised  # the task itself is being cancelled: that wins
        if isinstance(raised, (GeneratorExit, KeyboardInterrupt, SystemExit)):
            return raised  # never turned into an error of the stream
        if isinstance(raised, StopAsyncIteration):
            return raised  # the stream had ended anyway
        return self._outcome()

    def _outcome(self) -> BaseException:
        """What a read of a stopped stream raises."""
        if self._interrupt_due and not self._finished():
            self._interrupt_due = False  # said once; later reads find the stream ended
            return self._interrupted(self._stop or "stopped")
        return StopAsyncIteration()

    # -- stopping -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the stream and close its generator. Safe to call twice, and from any task: a
        consumer in another task then gets the interruption (see the module docstring)."""
        current = asyncio.current_task()
        consumer = self._consumer
        self._request_stop(
            "closed by aclose() from another task",
            interrupt=consumer is not None and consumer is not current,
        )
        waiter = self._waiter
        if waiter is None:
            await self._close()
        elif waiter is not current:
            await self._wait_closed()
        # else: called from inside this task's own read; that read closes the generator

    def _request_stop(self, reason: str, *, interrupt: bool) -> bool:
        """Stop the stream from any task without waiting; ``False`` when it had already
        stopped or ended. A consumer waiting in another task has its wait cancelled and
        closes the generator itself; otherwise the caller sees that :meth:`_close` runs."""
        if self._stop is not None or self._ended:
            return False
        self._stop, self._interrupt_due = reason, interrupt
        waiter = self._waiter
        if waiter is not None and waiter is not asyncio.current_task():
            self._cancelled = waiter
            self._interrupt_due = True
            waiter.cancel()
        self._release()
        return True

    async def _close(self) -> None:
        """Close the generator, once; a second caller waits for the first."""
        if self._ended:
            return
        if self._closing:
            await self._wait_closed()
            return
        self._closing = True
        try:
            if self._gen is not None:
                await self._gen.aclose()
        finally:
            self._end()

    async def _wait_closed(self) -> None:
        if not self._ended:
            if self._closed is None:
                self._closed = asyncio.Event()
            await self._closed.wait()

    def _end(self) -> None:
        self._ended = True
        if self._closed is not None:
            self._closed.set()
        self._release()

    # -- for subclasses ---------------------------------------------------------------------

    def _finished(self) -> bool:
        """True once the last item was delivered: a stop then loses nothing."""
        return False

    def _interrupted(self, reason: str) -> StreamInterruptedError:
        """What the consumer gets when another task stopped the stream (``reason`` says how)."""
        return StreamInterruptedError(f"{self._what} was stopped: {reason}")

    def _release(self) -> None:
        """Called when the stream stops or ends (possibly more than once)."""
