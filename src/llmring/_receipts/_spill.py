"""The spill file: receipts the store could not take, kept on the local disk until it can.

One JSON row per line, appended by the writer thread (a batch the store refused) or by a
stream whose queue is full, and shared by the processes of one host that log to one store
(``llmring serve --workers N``). :meth:`SpillFile.replay` stores it and deletes it:

1. under an exclusive lock on ``<spill>.lock`` (one replay at a time on the host; a process
   that finds it taken leaves the work to the holder), the file is renamed to
   ``<spill>.replaying``, under the lock that appends take, so an append made after the rename
   starts a new spill file instead of landing in the one being read;
2. its rows go to the store in batches; the store skips ids it holds, so rows written before
   a failure and written again on the next try are stored once;
3. it is deleted only once every row is stored. A replay that fails (the store went away
   again) leaves ``<spill>.replaying`` for the next one, which starts with it.

The locks are ``flock`` locks; where there is none (Windows), only the threads of one process
are ordered.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["SpillFile", "spilled_row"]

logger = logging.getLogger("llmring")


class SpillFile:
    """The spill file at ``path``; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replaying = path.with_name(path.name + ".replaying")
        self._guard = path.with_name(path.name + ".lock")
        self._lock = threading.Lock()  # appends and the rename, in this process
        self._replay_lock = threading.Lock()

    def append(self, text: str) -> None:
        """Append ``text`` (whole lines); ``OSError`` when the file cannot be written."""
        with self._lock:
            while True:
                try:
                    spill = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
                except FileNotFoundError:  # the user data dir is made on the first spill
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    continue
                with spill:
                    _lock(spill)
                    if _still_at(spill, self.path):
                        spill.write(text)
                        return
                # renamed by a replay between the open and the lock: append to a new file

    def waiting(self) -> bool:
        """Whether there are spilled rows to replay (two ``stat`` calls)."""
        return self.path.exists() or self.replaying.exists()

    def replay(self, write: Callable[[Sequence[dict[str, Any]]], int], batch: int) -> int | None:
        """Store the spilled rows through ``write`` (the store's), ``batch`` rows a call; the
        number of rows read (``None``: another process is replaying). The store's errors are
        raised, the rows kept for the next replay."""
        if not self._replay_lock.acquire(blocking=False):
            return None
        try:
            with self._exclusive() as mine:
                if not mine:
                    return None
                done = 0
                if self.replaying.exists():  # left by a replay that failed
                    done += self._store(write, batch)
                if self.path.exists():
                    with self._lock, open(self.path, "a", encoding="utf-8") as spill:
                        _lock(spill)  # no append is under way: the rename cuts between lines
                        os.replace(self.path, self.replaying)
                    done += self._store(write, batch)
                return done
        finally:
            self._replay_lock.release()

    def _store(self, write: Callable[[Sequence[dict[str, Any]]], int], batch: int) -> int:
        count = 0
        for rows in _batches(self.replaying, batch):
            write(rows)
            count += len(rows)
        self.replaying.unlink()
        return count

    @contextmanager
    def _exclusive(self) -> Iterator[bool]:
        with open(self._guard, "a", encoding="utf-8") as guard:
            yield _lock(guard, wait=False)


def spilled_row(line: str) -> dict[str, Any] | None:
    """The receipt one line of a spill file holds (the columns the stores know), or ``None``
    when the line is not a receipt (a JSON object with ``id``, ``started_at`` and ``status``)."""
    from llmring._receipts._receipt import COLUMNS

    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict) or not {"id", "started_at", "status"} <= row.keys():
        return None
    return {k: v for k, v in row.items() if k in COLUMNS}


def _batches(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    """The rows of a spill file, ``size`` at a time; a line that is not a receipt (cut short
    by a process killed mid-append) is skipped with a warning."""
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as spill:
        for number, line in enumerate(spill, 1):
            if not line.strip():
                continue
            row = spilled_row(line)
            if row is None:
                logger.warning("%s:%d is not a receipt; skipped", path, number)
                continue
            rows.append(row)
            if len(rows) >= size:
                yield rows
                rows = []
    if rows:
        yield rows


def _lock(file: IO[str], *, wait: bool = True) -> bool:
    """An exclusive ``flock`` on ``file`` until it is closed; ``False`` if ``wait`` is off and
    another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: the threads of this process only
        return True
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _still_at(file: IO[str], path: Path) -> bool:
    """Whether ``path`` still names the open ``file`` (a replay may have renamed it)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(file.fileno())
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
