"""``AsyncResource``: the one ``async with`` → ``aclose()`` base of every closeable object
(streams, the facade, managers, thunks, agents' runs), and :func:`iterating`, which closes
what it iterates (closing is the shape of the call, never a ``getattr`` that may find nothing).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Protocol, Self, TypeVar, runtime_checkable

__all__ = ["AsyncResource", "Closeable", "close_each", "iterating"]

T = TypeVar("T")


class AsyncResource(ABC):
    """Leaving ``async with`` awaits :meth:`aclose`, whatever ended the block (cleanup in
    ``finally``, never left to the garbage collector)."""

    __slots__ = ()

    @abstractmethod
    async def aclose(self) -> None:
        """Release what the object holds. Idempotent: a second call does nothing."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@runtime_checkable
class Closeable(Protocol):
    """Anything with an ``aclose()``: async generators, every :class:`AsyncResource`."""

    def aclose(self) -> Awaitable[object]: ...


async def close_each(*objects: object) -> None:
    """``aclose()`` each object that has one, once (the same object given twice is closed once),
    in order; objects without one (a list's iterator, ``None``) are skipped."""
    closed: list[object] = []
    for thing in objects:
        if isinstance(thing, Closeable) and not any(thing is done for done in closed):
            closed.append(thing)
            await thing.aclose()


@asynccontextmanager
async def iterating(iterable: AsyncIterable[T]) -> AsyncIterator[AsyncIterator[T]]:
    """``async with iterating(stream) as items:`` iterates ``stream`` and, on every exit, closes
    its iterator and the iterable itself when that is another object (a stream and the view
    its ``__aiter__`` returned)."""
    iterator = aiter(iterable)
    try:
        yield iterator
    finally:
        await close_each(iterator, iterable)
