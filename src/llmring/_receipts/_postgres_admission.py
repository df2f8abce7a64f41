"""Admission (:mod:`llmring._receipts._admission`) in the PostgreSQL store: the limits of a key
hold across every gateway process on every host that shares the database.

Each check is **one round trip**: ``SELECT * FROM llmring_admit(...)``, a PL/pgSQL function
(schema version 3, :data:`SCHEMA_3`) that runs in the statement's own transaction. It takes a
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

import hashlib
from typing import TYPE_CHECKING, Any

from llmring._receipts._admission import (
    WINDOW,
    Ask,
    Grant,
    Refusal,
    budget_refusal,
    rate_refusal,
)
from llmring._receipts._receipt import uuid7

if TYPE_CHECKING:
    from llmring._receipts._settings import StoreURL

__all__ = ["SCHEMA_3", "PostgresAdmission"]

#: the advisory-lock namespace of admission checks (a key's lock is this and its id's hash)
_LOCK_SPACE = int.from_bytes(hashlib.sha256(b"llmring admission").digest()[:4], "big") >> 1

_ADMIT = f"""
CREATE FUNCTION llmring_admit(
    p_key TEXT, p_id TEXT, p_rpm INTEGER, p_tpm BIGINT, p_tokens BIGINT,
    p_period_kind TEXT, p_budget DOUBLE PRECISION, p_cost DOUBLE PRECISION,
    p_allow_unpriced BOOLEAN)
RETURNS TABLE (o_verdict TEXT, o_now DOUBLE PRECISION, o_period TEXT,
               o_spent DOUBLE PRECISION, o_reserved DOUBLE PRECISION,
               o_at DOUBLE PRECISION[], o_tokens BIGINT[])
LANGUAGE plpgsql AS $$
DECLARE
    v_now DOUBLE PRECISION := extract(epoch FROM clock_timestamp());
    v_rated BOOLEAN := p_rpm IS NOT NULL OR p_tpm IS NOT NULL;
    v_requests BIGINT := 0;
    v_used BIGINT := 0;
    v_gone BIGINT;
    v_gone_tokens BIGINT;
    v_period TEXT;
    v_spent DOUBLE PRECISION;
    v_reserved DOUBLE PRECISION;
BEGIN
    PERFORM pg_advisory_xact_lock({_LOCK_SPACE}, hashtext(p_key));
    IF v_rated THEN
        -- the requests that left the window go, and their share of the key's counts
        WITH gone AS (
            DELETE FROM admissions a WHERE a.key_id = p_key AND a.at <= v_now - {WINDOW}
            RETURNING a.tokens)
        SELECT count(*), coalesce(sum(g.tokens), 0) INTO v_gone, v_gone_tokens FROM gone g;
        INSERT INTO rate_windows AS w (key_id, requests, tokens) VALUES (p_key, 0, 0)
            ON CONFLICT (key_id) DO NOTHING;
        UPDATE rate_windows w SET requests = w.requests - v_gone, tokens = w.tokens - v_gone_tokens
            WHERE w.key_id = p_key RETURNING w.requests, w.tokens INTO v_requests, v_used;
        IF (p_rpm IS NOT NULL AND v_requests >= p_rpm)
                OR (p_tpm IS NOT NULL AND v_used + p_tokens > p_tpm) THEN
            RETURN QUERY SELECT 'rate'::TEXT, v_now, NULL::TEXT, NULL::DOUBLE PRECISION,
                NULL::DOUBLE PRECISION, array_agg(a.at ORDER BY a.at),
                array_agg(a.tokens ORDER BY a.at)
                FROM admissions a WHERE a.key_id = p_key;
            RETURN;
        END IF;
    END IF;
    IF p_period_kind IS NOT NULL THEN
        v_period := to_char(to_timestamp(v_now) AT TIME ZONE 'UTC',
                            CASE WHEN p_period_kind = 'day' THEN 'YYYY-MM-DD' ELSE 'YYYY-MM' END);
        SELECT b.spent_usd, b.reserved_usd INTO v_spent, v_reserved
            FROM budget_spend b WHERE b.key_id = p_key AND b.period = v_period;
        IF NOT FOUND THEN
            -- a new period: older periods' reservations (a gateway killed mid-call) are dropped
            DELETE FROM reservations r WHERE r.key_id = p_key AND r.period <> v_period;
            INSERT INTO budget_spend (key_id, period) VALUES (p_key, v_period);
            v_spent := 0;
            v_reserved := 0;
        END IF;
        IF (p_cost IS NULL AND NOT p_allow_unpriced)
                OR p_cost > p_budget - v_spent - v_reserved + 1e-12 THEN
            RETURN QUERY SELECT 'budget'::TEXT, v_now, v_period, v_spent, v_reserved,
                NULL::DOUBLE PRECISION[], NULL::BIGINT[];
            RETURN;
        END IF;
        UPDATE budget_spend b SET reserved_usd = b.reserved_usd + coalesce(p_cost, 0)
            WHERE b.key_id = p_key AND b.period = v_period;
        INSERT INTO reservations (id, key_id, period, usd)
            VALUES (p_id, p_key, v_period, coalesce(p_cost, 0));
    END IF;
    IF v_rated THEN
        INSERT INTO admissions (id, key_id, at, tokens) VALUES (p_id, p_key, v_now, p_tokens);
        UPDATE rate_windows w SET requests = w.requests + 1, tokens = w.tokens + p_tokens
            WHERE w.key_id = p_key;
    END IF;
    RETURN QUERY SELECT 'granted'::TEXT, v_now, v_period, NULL::DOUBLE PRECISION,
        NULL::DOUBLE PRECISION, NULL::DOUBLE PRECISION[], NULL::BIGINT[];
END
$$"""

_SETTLE = f"""
CREATE FUNCTION llmring_settle(
    p_id TEXT, p_key TEXT, p_rated BOOLEAN, p_tokens BIGINT, p_period TEXT,
    p_reserved DOUBLE PRECISION, p_cost DOUBLE PRECISION)
RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_old BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock({_LOCK_SPACE}, hashtext(p_key));
    IF p_rated THEN
        SELECT a.tokens INTO v_old FROM admissions a WHERE a.id = p_id;
        IF FOUND THEN  -- still in the window: it holds its real usage from now on
            UPDATE admissions a SET tokens = p_tokens WHERE a.id = p_id;
            UPDATE rate_windows w SET tokens = w.tokens + p_tokens - v_old
                WHERE w.key_id = p_key;
        END IF;
    END IF;
    IF p_period IS NOT NULL THEN
        DELETE FROM reservations r WHERE r.id = p_id;
        IF FOUND THEN  -- the first settle of this grant: charged once
            UPDATE budget_spend b SET spent_usd = b.spent_usd + coalesce(p_cost, 0),
                reserved_usd = greatest(b.reserved_usd - coalesce(p_reserved, 0), 0)
                WHERE b.key_id = p_key AND b.period = p_period;
        END IF;
    END IF;
END
$$"""

#: schema version 3 in PostgreSQL: SQLite's version 3 (key limits, the rate window, budgets)
#: with double-precision times and costs, and the two functions above
SCHEMA_3: tuple[str, ...] = (
    "ALTER TABLE api_keys ADD COLUMN rpm INTEGER",
    "ALTER TABLE api_keys ADD COLUMN tpm BIGINT",
    "ALTER TABLE api_keys ADD COLUMN budget_usd DOUBLE PRECISION",
    "ALTER TABLE api_keys ADD COLUMN budget_period TEXT",
    "ALTER TABLE api_keys ADD COLUMN allow_unpriced BOOLEAN NOT NULL DEFAULT false",
    (
        "CREATE TABLE admissions (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
        "at DOUBLE PRECISION NOT NULL, tokens BIGINT NOT NULL)"
    ),
    "CREATE INDEX admissions_key_at ON admissions (key_id, at)",
    (
        "CREATE TABLE rate_windows (key_id TEXT PRIMARY KEY, "
        "requests BIGINT NOT NULL, tokens BIGINT NOT NULL)"
    ),
    (
        "CREATE TABLE budget_spend (key_id TEXT NOT NULL, period TEXT NOT NULL, "
        "spent_usd DOUBLE PRECISION NOT NULL DEFAULT 0, "
        "reserved_usd DOUBLE PRECISION NOT NULL DEFAULT 0, PRIMARY KEY (key_id, period))"
    ),
    (
        "CREATE TABLE reservations (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
        "period TEXT NOT NULL, usd DOUBLE PRECISION NOT NULL)"
    ),
    "CREATE INDEX reservations_key ON reservations (key_id, period)",
    _ADMIT,
    _SETTLE,
)


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
