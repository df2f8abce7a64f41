"""The lockfile a gateway serves, swapped whole on SIGHUP or when the file changes.

A :class:`Snapshot` is one loaded lockfile: its :class:`~llmring.LLMRing` (aliases, provider
clients, prices, receipts) and digest. Each request takes the current snapshot when it starts
(:meth:`Snapshots.acquire`) and keeps it to the end, so a stream never sees two lockfiles. A
reload builds the new snapshot in a worker thread, checks it (every alias of the served profile
resolves), and only then swaps it in: an invalid lockfile keeps the old one and logs why. A
replaced snapshot's provider clients are closed when its last request ends.

The receipt store is chosen once, at start-up (``--receipts`` or the first lockfile's): a
reload never moves receipts elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmring.resolver import Candidate
    from llmring.service import LLMRing

__all__ = ["Snapshot", "Snapshots", "load_snapshot", "warm_prices"]

logger = logging.getLogger("llmring.serve")


@dataclass(eq=False)
class Snapshot:
    """One loaded lockfile and the requests using it."""

    ring: LLMRing
    digest: str
    path: Path | None
    loaded_at: float = field(default_factory=time.time)
    #: the file's ``(mtime_ns, size, inode)`` when it was read: a change means reload
    stamp: tuple[int, int, int] | None = None
    active: int = 0
    retired: bool = False


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino


def load_snapshot(
    lockfile: str | None,
    profile: str | None,
    receipts: str | None,
    log_content: bool | None,
    *,
    clients: bool = True,
) -> Snapshot:
    """Read and check a lockfile (blocking: call it in a thread once serving). ``clients``:
    also make every provider's client now; ``False`` only checks (``llmring serve`` does, before
    the worker loads it for real, so nothing is made twice or left open)."""
    from llmring.service import LLMRing

    ring = LLMRing(lockfile, profile, receipts=receipts, log_content=log_content)
    path = ring.lockfile.path if not ring.lockfile.bundled else None
    stamp = _stamp(path)
    if clients:
        _load_adapters(ring)
    else:
        for alias in ring.lockfile.profile(ring.profile).bindings:
            ring.resolve(alias)  # a binding to an unknown provider fails here
    return Snapshot(ring, ring.lockfile.digest, path, stamp=stamp)


def _load_adapters(ring: LLMRing) -> None:
    """Make, now and in the loading thread, the adapter of every provider the lockfile names
    (its SDK imported, its client built): made by a worker's first request to the provider,
    it would hold the event loop for 0.05-2 s, stalling every stream of the worker. A
    provider that is not usable (no SDK, no key) is left to the request, which says why or
    falls back."""
    first: dict[str, Candidate] = {}
    for alias in ring.lockfile.profile(ring.profile).bindings:
        # a binding to an unknown provider fails here, not on a request
        for candidate in ring.resolve(alias):
            first.setdefault(candidate.provider, candidate)
    for name in ring.lockfile.providers:  # reached by provider:model only
        if name not in first:
            first[name] = ring.resolve(f"{name}:any")[0]
    for candidate in first.values():
        if candidate.usable:
            ring.capabilities(candidate.ref)


class Snapshots:
    """The current snapshot, reloads, and the retirement of replaced ones."""

    def __init__(
        self,
        first: Snapshot,
        *,
        lockfile: str | None,
        profile: str | None,
        receipts: str | None,
        log_content: bool | None,
    ) -> None:
        self.current = first
        self._args = (lockfile, profile, receipts, log_content)
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[Any]] = set()
        self.reloads = 0  # lockfiles swapped in since start
        self.last_error: str | None = None  # why the last reload was refused

    # -- requests -------------------------------------------------------------------------------

    def acquire(self) -> Snapshot:
        snapshot = self.current
        snapshot.active += 1
        return snapshot

    def release(self, snapshot: Snapshot) -> None:
        snapshot.active -= 1
        if snapshot.retired and snapshot.active == 0:
            self._close(snapshot)

    # -- reloading ------------------------------------------------------------------------------

    async def reload(self, why: str) -> bool:
        """Load the lockfile again and swap it in if it is valid; ``False`` keeps the old one."""
        async with self._lock:
            old = self.current
            try:
                new = await asyncio.to_thread(load_snapshot, *self._args)
            except Exception as exc:  # noqa: BLE001 - any failure keeps the served lockfile
                from llmring._chain import describe

                self.last_error = describe(exc)[1]
                logger.error(
                    "llmring serve: the lockfile was not reloaded (%s): %s; still serving %s",
                    why,
                    self.last_error,
                    old.digest,
                )
                old.stamp = _stamp(old.path)  # do not retry until the file changes again
                return False
            self.last_error = None
            if new.digest == old.digest:
                old.stamp = new.stamp
                await new.ring.aclose()
                return False
            self.current = new
            self.reloads += 1
            old.retired = True
            if old.active == 0:
                self._close(old)
            logger.warning(
                "llmring serve: lockfile reloaded (%s): %s -> %s", why, old.digest, new.digest
            )
            return True

    def _close(self, snapshot: Snapshot) -> None:
        task = asyncio.get_running_loop().create_task(snapshot.ring.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def start_watching(self, interval: float) -> None:
        """Reload on SIGHUP, and when the lockfile changes (checked every ``interval`` s)."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        if interval > 0 and self.current.path is not None:
            self._watcher = loop.create_task(self._watch(interval))

    def _on_hup(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload("SIGHUP"))
        self._closing.add(task)  # keeps a reference until it is done
        task.add_done_callback(self._closing.discard)

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            snapshot = self.current
            stamp = await asyncio.to_thread(_stamp, snapshot.path)
            if stamp is not None and stamp != snapshot.stamp:
                await self.reload("the file changed")

    async def aclose(self) -> None:
        """Stop watching and close every snapshot (after the requests have ended)."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await self.current.ring.aclose()


def warm_prices() -> str | None:
    """Load genai-prices' table now, not on the first priced request; its version or None."""
    from llmring.prices._table import installed, load_table

    if not installed():
        return None
    return load_table()[1]
