"""The default ring: one ``LLMRing`` per event loop for everything that takes ``ring=None``
(bots, agents, ``stream_with_chunking`` and the requirements it runs).

Provider clients belong to the loop they were opened on, so there is one ring per loop. It is
created on first use in a loop and keeps, for that loop's life, the lockfile that discovery
found at that moment (``LLMRING_LOCKFILE_PATH``, else the nearest ``llmring.lock`` from the
working directory up, else the bundled default) and the profile then selected. A later change
of directory, of those variables or of the file's place is not seen by it; pass
``ring=LLMRing(...)`` to choose. A sync bot's loop lives as long as the process, so its ring
does too.

The ring is closed with its loop: when the loop shuts down its async generators (as
``asyncio.run``, ``asyncio.Runner`` and pytest-asyncio do before closing it), and at
interpreter exit for a loop still running then (the sync bots' background loop).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import weakref
from collections.abc import AsyncGenerator

from llmring.service import LLMRing

__all__ = ["default_ring"]

logger = logging.getLogger("llmring")

_EXIT_WAIT = 5.0  # seconds a still-running loop gets at exit to close its ring

#: loop → (its ring, the suspended generator whose ``finally`` closes the ring)
_rings: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, tuple[LLMRing, AsyncGenerator[None, None]]
] = weakref.WeakKeyDictionary()


def default_ring() -> LLMRing:
    """The default ring of the running event loop (``RuntimeError`` outside one)."""
    loop = asyncio.get_running_loop()
    entry = _rings.get(loop)
    if entry is None:
        ring = LLMRing()
        entry = _rings[loop] = (ring, _closer_of(ring, loop))
    return entry[0]


def _closer_of(ring: LLMRing, loop: asyncio.AbstractEventLoop) -> AsyncGenerator[None, None]:
    """An async generator, run to its ``yield``, whose ``finally`` closes ``ring``. Its first
    step registers it with the running loop (asyncio's first-iteration hook), so the loop's
    ``shutdown_asyncgens()`` runs that ``finally``."""

    async def close_with_the_loop() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            _rings.pop(loop, None)  # the generator holds the loop; let both go
            await ring.aclose()

    closer = close_with_the_loop()
    try:
        closer.asend(None).send(None)  # to the yield, without a turn of the loop
    except StopIteration:
        pass
    return closer


async def _close(closer: AsyncGenerator[None, None]) -> None:
    await closer.aclose()


@atexit.register
def _close_at_exit() -> None:
    """Close the rings of loops still running in other threads (a sync bot's loop)."""
    for loop, (_, closer) in list(_rings.items()):
        if not loop.is_running() or loop.is_closed():
            continue  # closed with its loop already, or a loop nobody runs any more
        future = asyncio.run_coroutine_threadsafe(_close(closer), loop)
        try:
            future.result(_EXIT_WAIT)
        except Exception:  # at exit there is no caller left to raise to: say it, carry on
            future.cancel()
            logger.warning("closing the default LLMRing at exit failed", exc_info=True)
