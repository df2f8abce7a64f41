"""Admission (:mod:`llmring._receipts._admission`) in the PostgreSQL store: the limits of a key
hold across every gateway process on every host that shares the database.

Each check is **one round trip**: ``SELECT * FROM llmring_admit(...)``, a PL/pgSQL function
(:mod:`llmring._receipts._postgres_admission_sql`) that runs in the statement's own
transaction, which commits without waiting for the disk (that module says why). It takes a
transaction-scoped advisory lock on the key, so the checks of one key run one at a time on
every host while other keys' checks run in parallel, and it reads the time from the database
(``clock_timestamp()``), so hosts whose clocks differ still share one window and one budget
period. The tables are SQLite's (:mod:`llmring._receipts._sqlite_admission` explains them),
with ``DOUBLE PRECISION`` times and costs.

The function decides only whether the request fits; when it does not, it returns what the
decision was made from (the window's rows, or the period's spend) and Python's pure functions
(:func:`~llmring._receipts._admission.rate_refusal`,
:func:`~llmring._receipts._admission.budget_refusal`) word the refusal and compute
``Retry-After``, so both stores refuse in the same words. Settling is one round trip too
(``llmring_settle``), charging a grant once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmring._receipts._admission import (
    Ask,
    Grant,
    Refusal,
    budget_refusal,
    rate_refusal,
)
from llmring._receipts._receipt import uuid7

if TYPE_CHECKING:
    from llmring._receipts._settings import StoreURL

__all__ = ["PostgresAdmission"]


class PostgresAdmission:
    """An :class:`~llmring._receipts._admission.Admission` in the PostgreSQL database of
    ``store`` (through this process's pool of it). Thread-safe: each call takes a pooled
    connection."""

    def __init__(self, store: StoreURL) -> None:
        from llmring._receipts._postgres_pool import database

        self.store = store
        self._database = database(store)

    def admit(self, ask: Ask) -> Grant | Refusal:
        limits, key = ask.limits, ask.key_id
        grant_id = uuid7()
        row = self._call(
            "checking a key's limits",
            "SELECT * FROM llmring_admit(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                key,
                grant_id,
                limits.rpm,
                limits.tpm,
                ask.tokens,
                limits.budget_period,
                limits.budget_usd,
                ask.cost_usd,
                limits.allow_unpriced,
            ),
        )
        verdict, now, period = row[0], float(row[1]), row[2]
        if verdict == "rate":
            window = list(zip(row[5] or [], row[6] or [], strict=True))
            refusal = rate_refusal(window, now, limits, ask.tokens)
            # the function refuses only what the window's rows refuse
            return refusal or Refusal("rpm", "this key's rate limit is reached", 1.0)
        if verdict == "budget":
            assert limits.budget_period is not None
            refused = budget_refusal(float(row[3]), float(row[4]), ask, now, limits.budget_period)
            return refused or Refusal("budget", "this key's budget cannot cover this request")
        rated = limits.rpm is not None or limits.tpm is not None
        reserved = (ask.cost_usd or 0.0) if period is not None else None
        return Grant(grant_id, key, now, ask.tokens if rated else 0, period, reserved)

    def settle(self, grant: Grant, tokens: int, cost_usd: float | None) -> None:
        self._call(
            "settling a request",
            "SELECT llmring_settle(%s, %s, %s, %s, %s, %s, %s)",
            (
                grant.id,
                grant.key_id,
                grant.tokens > 0,
                tokens,
                grant.period,
                grant.reserved_usd,
                cost_usd,
            ),
        )

    def close(self) -> None:
        pass  # the pool is the process's, closed at exit (``_postgres_db.close_pools``)

    def _call(self, doing: str, sql: str, params: tuple[Any, ...]) -> Any:
        with self._database.connection(doing) as db:
            return db.execute(sql, params).fetchone()
