"""Admission (:mod:`llmring._receipts._admission`) in the SQLite store, for the workers of one
host: each check is one ``BEGIN IMMEDIATE`` transaction, which takes the file's write lock at
once, so the workers' checks of one file run one after the other and all see one count.

Tables (schema version 3, :data:`llmring._receipts._sqlite.MIGRATIONS`):

* ``admissions``: the sliding-window log, one row per request of a key with an rpm or a tpm
  admitted in the last minute: when (``at``) and the tokens it holds (reserved, then its real
  usage once settled). Rows that left the window are deleted by the key's next check;
* ``rate_windows``: per key, the log's row count and token sum, changed in the same
  transactions as the log, so a check reads one row instead of counting the window (the log
  itself is read only to tell a refused client when a slot frees);
* ``budget_spend``: per key and period, what the settled calls cost (``spent_usd``) and the
  worst cases of the running ones (``reserved_usd``);
* ``reservations``: each running call's worst case, deleted when it settles (so a settle
  charges once).

A gateway killed mid-stream never settles its grants: their tokens leave the window after a
minute, and their worst case stays reserved until the period ends (a budget errs towards not
spending).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from llmring._receipts._admission import (
    WINDOW,
    Ask,
    Grant,
    Refusal,
    budget_refusal,
    period_of,
    rate_refusal,
)
from llmring._receipts._receipt import uuid7
from llmring._receipts._sqlite import SQLiteStore, _transaction

__all__ = ["SQLiteAdmission"]


class SQLiteAdmission:
    """An :class:`~llmring._receipts._admission.Admission` in the SQLite file ``path`` (opened,
    and migrated, here). Thread-safe: one connection, one transaction at a time (a lock), as the
    gateway calls it from the event loop's worker threads. ``clock``: wall-clock seconds."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._store = SQLiteStore(path)
        self._db = self._store._open()
        # A commit that passes the WAL's 1,000 pages checkpoints it, copying pages into the
        # file and syncing it: 5-20 ms on the request path every few hundred checks. This
        # connection never does; the receipt writer's (one receipt per admitted request, off
        # the request path) does it for the file.
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._clock = clock
        self._lock = threading.Lock()

    def admit(self, ask: Ask) -> Grant | Refusal:
        """One transaction: the window's rows that left it deleted, its count read (one
        row), the period's budget read (one row), and the grant written."""
        limits, key, db = ask.limits, ask.key_id, self._db
        with self._lock, _transaction(db):
            now = self._clock()
            rated = limits.rpm is not None or limits.tpm is not None
            if rated:
                requests, used = _window(db, key, now - WINDOW)
                rpm, tpm = limits.rpm, limits.tpm
                if (rpm is not None and requests >= rpm) or (
                    tpm is not None and used + ask.tokens > tpm
                ):
                    rows = db.execute(
                        "SELECT at, tokens FROM admissions WHERE key_id = ? ORDER BY at", (key,)
                    ).fetchall()
                    refusal = rate_refusal(rows, now, limits, ask.tokens)
                    if refusal is not None:
                        return refusal
            grant_id = uuid7()
            period, reserved = None, None
            if limits.budget_period is not None:
                period = period_of(now, limits.budget_period)
                decided = _reserve(db, ask, grant_id, period, now)
                if isinstance(decided, Refusal):
                    return decided
                reserved = decided
            if rated:
                db.execute(
                    "INSERT INTO admissions (id, key_id, at, tokens) VALUES (?, ?, ?, ?)",
                    (grant_id, key, now, ask.tokens),
                )
                db.execute(
                    "UPDATE rate_windows SET requests = requests + 1, tokens = tokens + ? "
                    "WHERE key_id = ?",
                    (ask.tokens, key),
                )
            return Grant(grant_id, key, now, ask.tokens if rated else 0, period, reserved)

    def settle(self, grant: Grant, tokens: int, cost_usd: float | None) -> None:
        """The grant's tokens become ``tokens`` (while it is in the window); under a budget
        its reservation is released and ``cost_usd`` (``None``: unpriced, nothing) charged to
        its period, once: a second settle of the same grant charges nothing."""
        db = self._db
        with self._lock, _transaction(db):
            if grant.tokens:
                row = db.execute(
                    "SELECT tokens FROM admissions WHERE id = ?", (grant.id,)
                ).fetchone()
                if row is not None:
                    db.execute("UPDATE admissions SET tokens = ? WHERE id = ?", (tokens, grant.id))
                    db.execute(
                        "UPDATE rate_windows SET tokens = tokens + ? WHERE key_id = ?",
                        (tokens - row[0], grant.key_id),
                    )
            if grant.period is not None:
                released = db.execute("DELETE FROM reservations WHERE id = ?", (grant.id,)).rowcount
                if released:
                    db.execute(
                        "UPDATE budget_spend SET spent_usd = spent_usd + ?, "
                        "reserved_usd = max(reserved_usd - ?, 0) "
                        "WHERE key_id = ? AND period = ?",
                        (cost_usd or 0.0, grant.reserved_usd or 0.0, grant.key_id, grant.period),
                    )

    def close(self) -> None:
        with self._lock:
            self._store.close()


def _window(db: sqlite3.Connection, key: str, since: float) -> tuple[int, int]:
    """The requests and tokens of ``key``'s window once the rows at or before ``since`` have
    left it (deleted, and taken off the key's counts)."""
    gone, gone_tokens = db.execute(
        "SELECT count(*), coalesce(sum(tokens), 0) FROM admissions WHERE key_id = ? AND at <= ?",
        (key, since),
    ).fetchone()
    if gone:
        db.execute("DELETE FROM admissions WHERE key_id = ? AND at <= ?", (key, since))
        db.execute(
            "UPDATE rate_windows SET requests = requests - ?, tokens = tokens - ? WHERE key_id = ?",
            (gone, gone_tokens, key),
        )
    row = db.execute(
        "SELECT requests, tokens FROM rate_windows WHERE key_id = ?", (key,)
    ).fetchone()
    if row is None:
        db.execute("INSERT INTO rate_windows (key_id, requests, tokens) VALUES (?, 0, 0)", (key,))
        return 0, 0
    return int(row[0]), int(row[1])


def _reserve(
    db: sqlite3.Connection, ask: Ask, grant_id: str, period: str, now: float
) -> float | Refusal:
    """Reserve ``ask``'s worst case in ``period``'s budget; what was reserved, or the refusal."""
    limits, key = ask.limits, ask.key_id
    assert limits.budget_period is not None
    row = db.execute(
        "SELECT spent_usd, reserved_usd FROM budget_spend WHERE key_id = ? AND period = ?",
        (key, period),
    ).fetchone()
    if row is None:
        # a new period: the reservations of older ones (a gateway killed mid-call) are dropped
        db.execute("DELETE FROM reservations WHERE key_id = ? AND period <> ?", (key, period))
        db.execute("INSERT INTO budget_spend (key_id, period) VALUES (?, ?)", (key, period))
        row = (0.0, 0.0)
    refusal = budget_refusal(row[0], row[1], ask, now, limits.budget_period)
    if refusal is not None:
        return refusal
    usd = ask.cost_usd or 0.0
    db.execute(
        "UPDATE budget_spend SET reserved_usd = reserved_usd + ? WHERE key_id = ? AND period = ?",
        (usd, key, period),
    )
    db.execute(
        "INSERT INTO reservations (id, key_id, period, usd) VALUES (?, ?, ?, ?)",
        (grant_id, key, period, usd),
    )
    return usd
