"""Deadlines that count only the time spent waiting on a provider, never on the consumer.

``ChatStream`` bounds each adapter event with a :class:`ProviderClock`; so does
``llmring.streaming.StreamingManager`` for any async iterator of chunks. A consumer that
sleeps between items never trips a deadline; a provider that stalls always does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from llmring.exceptions import ProviderTimeoutError
from llmring.schemas import StreamTimeouts

__all__ = ["ProviderClock"]

T = TypeVar("T")


class ProviderClock(Generic[T]):
    """Deadlines counted only while waiting on the provider (never on the consumer).

    ``total`` bounds the sum of all waits (across candidates), ``first_chunk`` the waits of one
    candidate before its first item, ``idle`` each wait after that. ``expired`` is the error
    the clock itself raised, so a caller can tell it from a timeout raised by the source.
    """

    def __init__(self) -> None:
        self.timeouts = StreamTimeouts()
        self.waited = 0.0  # all provider waits of this stream, across candidates
        self.waited_this_candidate = 0.0
        self.expired: ProviderTimeoutError | None = None

    def start_candidate(self, timeouts: StreamTimeouts) -> bool:
        """Use ``timeouts`` for the next candidate; ``True`` when none of them is set."""
        self.timeouts, self.waited_this_candidate = timeouts, 0.0
        return timeouts.total is None and timeouts.first_chunk is None and timeouts.idle is None

    def _limits(self, delivered: bool) -> list[tuple[float, str]]:
        t = self.timeouts
        limits = []
        if t.total is not None:
            limits.append((t.total - self.waited, "total"))
        if not delivered and t.first_chunk is not None:
            limits.append((t.first_chunk - self.waited_this_candidate, "first_chunk"))
        if delivered and t.idle is not None:
            limits.append((t.idle, "idle"))
        return limits

    def _describe(self, kind: str) -> str:
        seconds = getattr(self.timeouts, kind)
        if kind == "total":
            return f"the {seconds:g}s total deadline"
        return f"{seconds:g}s ({'first chunk' if kind == 'first_chunk' else 'idle between chunks'})"

    def _expire(self, kind: str) -> ProviderTimeoutError:
        self.expired = ProviderTimeoutError(
            f"no data from the provider within {self._describe(kind)}"
        )
        return self.expired

    async def next_event(
        self, events: AsyncIterator[T], delivered: bool, *, strict: bool = False
    ) -> T:
        """The next item of ``events``, or ``ProviderTimeoutError`` when a deadline expires.

        With ``strict``, a deadline already spent (a limit of 0) raises before asking
        ``events`` at all, even when the next item would be available without waiting.
        """
        limits = self._limits(delivered)
        if not limits:
            return await events.__anext__()
        limit, kind = min(limits)
        if strict and limit <= 0:
            raise self._expire(kind)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(max(limit, 0.0)) as scope:
                return await events.__anext__()
        except TimeoutError:
            if scope.expired():
                raise self._expire(kind) from None
            raise
        finally:
            spent = loop.time() - started
            self.waited += spent
            self.waited_this_candidate += spent
