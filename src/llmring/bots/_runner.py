"""One generic runner that lets sync bots drive the async path (no hand-written sync twins).

Sync bots submit their coroutines and async iterators to one background event loop, running
in a daemon thread. That works the same from a plain script and from inside a running event
loop (a notebook cell), where ``asyncio.run`` would fail. Interrupting the waiting thread
(Ctrl-C) cancels the work in the background loop; leaving a sync iterator early closes the
async one (and with it the provider stream).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from llmring._resource import close_each

__all__ = ["iterate_sync", "run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="llmring-bots", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the background loop and wait for its result."""
    future = asyncio.run_coroutine_threadsafe(coroutine, _background_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # Ctrl-C or an error in this thread: stop the work too
        raise


def iterate_sync(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """A sync iterator over the async iterator ``make()`` (created on the background loop)."""

    async def start() -> AsyncIterator[T]:
        return make()

    iterator = run_sync(start())

    async def step() -> T:
        return await anext(iterator)

    try:
        while True:
            try:
                item = run_sync(step())
            except StopAsyncIteration:
                return
            yield item
    finally:
        run_sync(close_each(iterator))
