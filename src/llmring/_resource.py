"""``AsyncResource``: the one ``async with`` → ``aclose()`` mixin of every closeable object
(streams, the facade, managers, thunks, agents' runs)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncResource"]


class AsyncResource:
    """Leaving ``async with`` awaits :meth:`aclose`, whatever ended the block (cleanup in
    ``finally``, never left to the garbage collector). Subclasses implement ``aclose``
    idempotently."""

    __slots__ = ()

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
