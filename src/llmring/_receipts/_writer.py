"""The background writer: receipts leave the stream through a queue, and one thread stores them.

A stream's only work is :meth:`ReceiptWriter.put`: its receipt made into a row at once (about
13 µs, in the stream's ``finally``, once the terminal chunk has been delivered), an append to
a bounded deque and, when the writer sleeps, one event set. The writer thread wakes, waits up
to ``interval`` (100 ms) for more, and stores what is queued in batches of at most ``batch``
(500) rows, each batch in one transaction. It keeps its store open while it runs.

Why the row is made at once, and not by the thread: a queued receipt holds its finished stream
(the request, the assembler, the provider's response) until the thread's next batch, so every
stream's objects outlived it by up to 100 ms and were freed in bursts by the thread, holding
the interpreter meanwhile. Made at once, a stream's objects go when it ends. In
``bench/serve.py``'s setting (one gateway, concurrency 1, 20-chunk streams) that took about
0.3 ms off the gateway's added p99, its p50 unchanged (docs/serve.md, "Speed").

Nothing is dropped silently:

* a full queue (``max_queue``) does not block the stream: that receipt is appended to the
  spill file (``<store>.spill.jsonl``, one JSON row per line) at once;
* a batch the store cannot take (a path that cannot be written, a file that is not a database,
  a full disk) is appended to the spill file too, with one warning on the ``llmring`` logger;
* ``spilled`` counts both, ``lost`` counts receipts that could not even be spilled (the
  spill file cannot be written either; each is logged as an error);
* the spill file is replayed into the store by the writer itself (:mod:`._spill`): after
  each batch the store took, when the file exists (two ``stat`` calls), and, once the
  store has failed, every ``retry`` seconds (1 s) even with nothing queued, until it takes
  them; ``replayed`` counts them. ``llmring logs import FILE`` does the same by hand (ids
  already there are skipped, so replaying twice stores each receipt once).

``LLMRing.aclose()`` waits for the receipts queued so far (:meth:`ReceiptWriter.flush`), and
so does the interpreter at exit (an ``atexit`` hook), so a script that ends right after its
last stream still stores its receipt. The thread ends after ``idle`` seconds without work and
starts again with the next receipt.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmring._receipts._receipt import Row
    from llmring._receipts._settings import StoreURL
    from llmring._receipts._store import ReceiptStore

__all__ = ["ReceiptWriter", "writer_for"]

logger = logging.getLogger("llmring")


class ReceiptWriter:
    """Stores the receipts of every ring that logs to one store; see the module docstring."""

    def __init__(
        self,
        open_store: Callable[[], ReceiptStore],
        spill_path: Path,
        *,
        max_queue: int = 10_000,
        batch: int = 500,
        interval: float = 0.1,
        idle: float = 30.0,
        retry: float = 1.0,
    ) -> None:
        from llmring._receipts._spill import SpillFile

        self._spill_file = SpillFile(spill_path)
        self._retry = retry
        self._replay_due = False  # the store failed: try replaying every ``retry`` seconds
        self._open_store = open_store
        self._max_queue, self._batch, self._interval, self._idle = max_queue, batch, interval, idle
        self._queue: deque[dict[str, Any]] = deque()  # rows
        self._wake = threading.Event()  # a receipt is queued
        self._urgent = threading.Event()  # a full batch, or a flush: do not wait
        self._lock = threading.Lock()  # starting and stopping the thread
        self._drain_lock = threading.Lock()  # one drainer at a time (the thread or a flush)
        self._done_changed = threading.Condition()
        self._sequence = itertools.count(1)
        self._queued_total = 0  # receipts ever queued
        self._done = 0  # of those, stored, spilled or lost
        self._running = False
        self._store_warned = False
        self._full_warned = False
        #: receipts stored, spilled to the JSONL file, lost (not even spilled), and read back
        #: from the spill file into the store
        self.written = 0
        self.spilled = 0
        self.lost = 0
        self.replayed = 0

    @property
    def spill_path(self) -> Path:
        """The JSONL file receipts go to when the store cannot take them."""
        return self._spill_file.path

    @spill_path.setter
    def spill_path(self, path: Path) -> None:
        from llmring._receipts._spill import SpillFile

        self._spill_file = SpillFile(path)

    # -- the stream's side ----------------------------------------------------------------------

    def put(self, receipt: Row) -> None:
        """Queue ``receipt``'s row, made now; never blocks (a full queue spills the row at
        once) and never raises (a receipt that cannot be made into a row is logged and counted
        in ``lost``)."""
        try:
            row = receipt.row()
        except Exception:
            self.lost += 1
            logger.exception("llmring could not serialise a receipt; it is lost")
            return
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._spill([row], "the receipt queue is full")
            return
        queue.append(row)
        self._queued_total = next(self._sequence)
        if len(queue) >= self._batch:
            self._urgent.set()
        if not self._running:
            self._start()
        if not self._wake.is_set():
            self._wake.set()

    # -- waiting for it ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Receipts queued and not yet stored or spilled."""
        return self._queued_total - self._done

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every receipt queued so far is stored (or spilled); ``False`` if that
        took longer than ``timeout`` seconds."""
        target = self._queued_total
        if self._done >= target:
            return True
        if not self._running:  # no thread (it went idle, or the interpreter is exiting)
            store = self._drain()
            if store is not None:
                store.close()
            return self._done >= target
        self._urgent.set()
        self._wake.set()
        with self._done_changed:
            return self._done_changed.wait_for(lambda: self._done >= target, timeout)

    # -- the thread -------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
            try:
                threading.Thread(target=self._run, name="llmring-receipts", daemon=True).start()
            except RuntimeError:  # no new threads at interpreter shutdown: flush() drains
                self._running = False

    def _run(self) -> None:
        store: ReceiptStore | None = None  # open while the thread runs (see _drain)
        try:
            while True:
                if not self._wake.wait(self._retry if self._replay_due else self._idle):
                    if self._replay_due:  # the store failed: is it back?
                        self._replay_alone()
                        continue
                    with self._lock:
                        # stopped first, then the queue checked: a put that saw the thread
                        # running has already queued its receipt, and is seen here
                        self._running = False
                        if not self._queue:
                            return
                        self._running = True
                    continue
                self._wake.clear()
                if len(self._queue) < self._batch and not self._urgent.is_set():
                    self._urgent.wait(self._interval)
                self._urgent.clear()
                store = self._drain(store)
        finally:
            if store is not None:
                store.close()

    def _drain(self, store: ReceiptStore | None = None) -> ReceiptStore | None:
        """Store everything queued, ``batch`` rows per transaction, into ``store`` (opened if
        ``None``). Returns the store still open, for the thread's next batch: opening and
        closing a SQLite file each time (its WAL checkpointed at every close) cost more than
        the rows. ``None`` once the store failed (it is closed; the next batch opens it
        again)."""
        with self._drain_lock:
            try:
                while self._queue:
                    rows = [self._queue.popleft() for _ in range(self._batch) if self._queue]
                    store = self._store_batch(store, rows)
            except BaseException:
                if store is not None:
                    store.close()
                raise
        return store

    def _store_batch(
        self, store: ReceiptStore | None, rows: list[dict[str, Any]]
    ) -> ReceiptStore | None:
        try:
            if store is None:
                store = self._open_store()
            self.written += store.write(rows)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError, a bad file: spill
            self._replay_due = True
            if not self._store_warned:
                self._store_warned = True
                logger.warning(
                    "llmring cannot write receipts to the store (%s); they go to %s, and "
                    "into the store once it takes them again (by hand: llmring logs import %s)",
                    exc,
                    self.spill_path,
                    self.spill_path,
                )
            if store is not None:
                store.close()
                store = None
            self._spill_rows(rows)
        else:
            if self._replay_due or self._spill_file.waiting():
                self._replay_after_batch(store)
        self._finished(len(rows))
        return store

    def _replay_after_batch(self, store: ReceiptStore) -> None:
        try:
            self._replay(store)
        except Exception:  # gone again: the rows stay in the file, tried every ``retry`` s
            self._replay_due = True
            logger.debug("llmring could not replay %s yet", self.spill_path, exc_info=True)

    # -- replaying the spill file -------------------------------------------------------------

    def _replay(self, store: ReceiptStore) -> None:
        """Store the spill file's rows (the store took a batch: it is back); the store's error
        is raised, the rows staying in the file for the next try."""
        replayed = self._spill_file.replay(store.write, self._batch)
        if replayed is None:  # another process of this host is replaying it
            return
        self._replay_due = False
        self._store_warned = False  # the next outage is told again
        if replayed:
            self.replayed += replayed
            logger.warning(
                "llmring replayed %d receipt(s) from %s into the store", replayed, self.spill_path
            )

    def _replay_alone(self) -> None:
        """A try with nothing queued: open the store, replay, close."""
        with self._drain_lock:
            if not self._spill_file.waiting():
                self._replay_due = False
                return
            store: ReceiptStore | None = None
            try:
                store = self._open_store()
                self._replay(store)
            except Exception:  # still away: the next try is in ``retry`` seconds
                logger.debug("llmring could not replay %s yet", self.spill_path, exc_info=True)
            finally:
                if store is not None:
                    store.close()

    def _finished(self, count: int) -> None:
        with self._done_changed:
            self._done += count
            self._done_changed.notify_all()

    # -- spilling ---------------------------------------------------------------------------------

    def _spill(self, rows: Sequence[dict[str, Any]], why: str) -> None:
        if not self._full_warned:  # once: under a sustained overload, not once per stream
            self._full_warned = True
            logger.warning("%s; receipts go to %s", why, self.spill_path)
        self._spill_rows(rows)

    def _spill_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        import json  # only when spilling

        text = "".join(json.dumps(row) + "\n" for row in rows)
        try:
            self._spill_file.append(text)
        except OSError as exc:
            self.lost += len(rows)
            logger.error(
                "llmring could not spill %d receipt(s) to %s (%s); they are lost",
                len(rows),
                self.spill_path,
                exc,
            )
            return
        self.spilled += len(rows)


_writers: dict[StoreURL, ReceiptWriter] = {}
_writers_lock = threading.Lock()


def writer_for(store: StoreURL | Path) -> ReceiptWriter:
    """The one writer of ``store`` (a SQLite file may be given by its path) in this process
    (made on first use)."""
    from llmring._receipts._settings import StoreURL, open_receipt_store

    if isinstance(store, Path):
        store = StoreURL.sqlite(store)
    key = StoreURL.sqlite(store.path.absolute()) if store.path is not None else store
    if key.kind == "postgresql":
        from llmring._receipts._postgres import require_driver

        require_driver()  # a plain install says how to add psycopg now, not in the thread
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            if not _writers:
                atexit.register(flush_all)
            writer = _writers[key] = ReceiptWriter(lambda: open_receipt_store(key), key.spill_path)
        return writer


def flush_all(timeout: float = 10.0) -> None:
    """Store every queued receipt of every writer (the ``atexit`` hook)."""
    for writer in list(_writers.values()):
        writer.flush(timeout)
