"""One async iterator, several readers: each reader sees every item from when it joined.

There is no background task: a reader that needs the next item pulls it from the source and
hands it to every other reader's queue, while readers that find their queue empty and a pull
under way wait for it. So :class:`~llmring.streaming.ChunkedStream` can give mellea's
concurrent ``astream()`` and ``events()`` views and still start nothing until someone reads.
The first pull waits one turn of the event loop, so that readers started together (two tasks
of one ``asyncio.gather``) all join before the first item.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from llmring.streaming._thunks import GenerationClosedError

__all__ = ["Fanout"]

_T = TypeVar("_T")


class Fanout(Generic[_T]):
    """Readers of ``source``; see the module docstring. The source's own exception reaches
    every reader once its queue is empty; if the task pulling is cancelled, the source is
    abandoned and the other readers raise :class:`GenerationClosedError`. ``on_idle`` is
    awaited when the last reader has stopped (finished, broken off or closed)."""

    def __init__(
        self, source: AsyncIterator[_T], what: str, on_idle: Callable[[], Awaitable[None]]
    ) -> None:
        self._source = source
        self._what = what  # names the source in errors
        self._on_idle = on_idle
        self._queues: list[deque[_T]] = []
        self._pulling = False
        self._pulled = asyncio.Event()  # set whenever no pull is under way (one event, reused)
        self._started = False
        self._ended = False
        self._failure: BaseException | None = None

    def reader(self) -> AsyncGenerator[_T, None]:
        """A new reader: every item pulled from now on, in order. It joins at once, before
        its first ``anext``."""
        queue: deque[_T] = deque()
        self._queues.append(queue)
        return self._read(queue)

    async def _read(self, queue: deque[_T]) -> AsyncGenerator[_T, None]:
        # one generator per reader, with the pull written out here rather than in a helper
        # coroutine, so that an item costs no allocation of its own
        try:
            while True:
                while queue:
                    yield queue.popleft()
                if self._ended:
                    if self._failure is not None:
                        raise self._failure
                    return
                if self._pulling:  # another reader is pulling: its item lands in our queue
                    await self._pulled.wait()
                    continue
                self._pulling = True
                self._pulled.clear()
                try:
                    if not self._started:
                        self._started = True
                        await asyncio.sleep(0)  # readers started in the same turn join first
                    item = await anext(self._source)
                except StopAsyncIteration:
                    self._ended = True
                    continue
                except Exception as exc:
                    self._ended, self._failure = True, exc
                    raise
                except BaseException:  # our task was cancelled: the source is abandoned
                    self._ended = True
                    self._failure = GenerationClosedError(
                        f"{self._what} was stopped: the task reading it was cancelled"
                    )
                    raise
                finally:
                    self._pulling = False
                    self._pulled.set()
                for other in self._queues:
                    if other is not queue:
                        other.append(item)
                yield item
        finally:
            self._queues = [q for q in self._queues if q is not queue]
            if not self._queues:
                await self._on_idle()
