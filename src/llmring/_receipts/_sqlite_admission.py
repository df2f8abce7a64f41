"""Admission (:mod:`llmring._receipts._admission`) in the SQLite store, for the workers of one
host: each check is one ``BEGIN IMMEDIATE`` transaction, which takes the file's write lock at
once, so the workers' checks of one file run one after the other and all see one count.

Tables (schema version 3, :data:`llmring._receipts._sqlite.MIGRATIONS`):

* ``admissions``: one row per admitted request of a limited key: when (``at``), the tokens it
  reserved (corrected to its real usage when it ends), and, under a budget, its period and the
  worst case it reserved (``reserved_usd``, ``NULL`` once settled). A row leaves when it is
  older than the window and holds no reservation of the current period;
* ``budget_spend``: per key and period, what the settled calls cost.

A gateway killed mid-stream never settles its grants: their tokens leave the window after a
minute, and their worst case stays reserved until the period ends (a budget errs towards not
spending).
"""

from __future__ import annotations

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
        self._clock = clock
        self._lock = threading.Lock()

    def admit(self, ask: Ask) -> Grant | Refusal:
        limits, key, db = ask.limits, ask.key_id, self._db
        with self._lock, _transaction(db):
            now = self._clock()
            period = period_of(now, limits.budget_period) if limits.budget_period else None
            db.execute(
                "DELETE FROM admissions WHERE key_id = ? AND at <= ? "
                "AND (reserved_usd IS NULL OR period IS NOT ?)",
                (key, now - WINDOW, period),
            )
            if limits.rpm is not None or limits.tpm is not None:
                window = db.execute(
                    "SELECT at, tokens FROM admissions WHERE key_id = ? AND at > ? ORDER BY at",
                    (key, now - WINDOW),
                ).fetchall()
                refusal = rate_refusal(window, now, limits, ask.tokens)
                if refusal is not None:
                    return refusal
            reserved_usd = None
            if period is not None and limits.budget_period is not None:
                spent, reserved = db.execute(
                    "SELECT (SELECT spent_usd FROM budget_spend WHERE key_id = ?1 AND period = ?2),"
                    " (SELECT sum(reserved_usd) FROM admissions WHERE key_id = ?1 AND period = ?2)",
                    (key, period),
                ).fetchone()
                refusal = budget_refusal(
                    spent or 0.0, reserved or 0.0, ask, now, limits.budget_period
                )
                if refusal is not None:
                    return refusal
                reserved_usd = ask.cost_usd or 0.0
            grant = Grant(uuid7(), key, now, ask.tokens, period, reserved_usd)
            db.execute(
                "INSERT INTO admissions (id, key_id, at, tokens, period, reserved_usd) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (grant.id, key, now, grant.tokens, period, reserved_usd),
            )
            return grant

    def settle(self, grant: Grant, tokens: int, cost_usd: float | None) -> None:
        """The grant's tokens become ``tokens``; under a budget its reservation is released and
        ``cost_usd`` (``None``: unpriced, nothing) charged to its period, once: a second
        settle of the same grant charges nothing."""
        db = self._db
        with self._lock, _transaction(db):
            if grant.period is None:
                db.execute("UPDATE admissions SET tokens = ? WHERE id = ?", (tokens, grant.id))
                return
            released = db.execute(
                "UPDATE admissions SET tokens = ?, reserved_usd = NULL "
                "WHERE id = ? AND reserved_usd IS NOT NULL",
                (tokens, grant.id),
            ).rowcount
            if released and cost_usd:
                db.execute(
                    "INSERT INTO budget_spend (key_id, period, spent_usd) VALUES (?, ?, ?) "
                    "ON CONFLICT (key_id, period) DO UPDATE "
                    "SET spent_usd = spent_usd + excluded.spent_usd",
                    (grant.key_id, grant.period, cost_usd),
                )

    def close(self) -> None:
        with self._lock:
            self._store.close()
