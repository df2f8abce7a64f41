"""The PostgreSQL schema of admission (:mod:`llmring._receipts._postgres_admission`): the
tables of schema version 3 and the two PL/pgSQL functions each check and settlement call.

``llmring_admit`` takes a transaction-scoped advisory lock on the key (one key's checks run one
at a time on every host; other keys' in parallel), reads the time from the database, prunes
the key's rate window, and grants or says what it refused from. ``llmring_settle`` charges a
grant once. Released versions' statements never change: version 3's functions stay here as
they were, and version 4 replaces them (:data:`SCHEMA_4`).

**Version 4** (the functions' second form):

- each function's transaction commits without waiting for the disk
  (``synchronous_commit`` off for that transaction only). What they write is the gateways'
  working state (the rate windows, the reservations, the period's spend), not the record of
  what was spent: the receipts are that, and their writes still wait. A crash of PostgreSQL
  itself (not a restart, which flushes) can forget the last moments of admissions and
  settlements (up to three times ``wal_writer_delay``, 0.6 s by default): a rate window
  that misses a few requests, a budget that misses their cost. Each check's commit was the
  largest part of its cost: an admit's p50 went from about 0.7 ms to 0.4 ms on this
  project's 2-core machine (docs/serve.md, "Rate limits and budgets");
- the key's rate-window row is read once and written once per check (it was written twice,
  and an insert was attempted every time).
"""

from __future__ import annotations

import hashlib

from llmring._receipts._admission import WINDOW

__all__ = ["SCHEMA_3", "SCHEMA_4"]

#: the advisory-lock namespace of admission checks (a key's lock is this and its id's hash)
_LOCK_SPACE = int.from_bytes(hashlib.sha256(b"llmring admission").digest()[:4], "big") >> 1

_ADMIT_3 = f"""
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

_SETTLE_3 = f"""
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
    _ADMIT_3,
    _SETTLE_3,
)


# -- version 4 ----------------------------------------------------------------------------------

_ADMIT = f"""
CREATE OR REPLACE FUNCTION llmring_admit(
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
    -- what this transaction writes is the gateway's working state, not the record (the
    -- receipts are): its commit does not wait for the disk (docs/receipts.md says what a
    -- crash of PostgreSQL itself can forget)
    PERFORM set_config('synchronous_commit', 'off', true);
    IF v_rated THEN
        -- the requests that left the window go, and their share of the key's counts
        WITH gone AS (
            DELETE FROM admissions a WHERE a.key_id = p_key AND a.at <= v_now - {WINDOW}
            RETURNING a.tokens)
        SELECT count(*), coalesce(sum(g.tokens), 0) INTO v_gone, v_gone_tokens FROM gone g;
        SELECT w.requests - v_gone, w.tokens - v_gone_tokens INTO v_requests, v_used
            FROM rate_windows w WHERE w.key_id = p_key;
        IF NOT FOUND THEN
            INSERT INTO rate_windows (key_id, requests, tokens) VALUES (p_key, 0, 0);
            v_requests := 0;
            v_used := 0;
        END IF;
        IF (p_rpm IS NOT NULL AND v_requests >= p_rpm)
                OR (p_tpm IS NOT NULL AND v_used + p_tokens > p_tpm) THEN
            IF v_gone > 0 THEN
                UPDATE rate_windows w SET requests = v_requests, tokens = v_used
                    WHERE w.key_id = p_key;
            END IF;
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
            IF v_rated AND v_gone > 0 THEN
                UPDATE rate_windows w SET requests = v_requests, tokens = v_used
                    WHERE w.key_id = p_key;
            END IF;
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
        UPDATE rate_windows w SET requests = v_requests + 1, tokens = v_used + p_tokens
            WHERE w.key_id = p_key;
    END IF;
    RETURN QUERY SELECT 'granted'::TEXT, v_now, v_period, NULL::DOUBLE PRECISION,
        NULL::DOUBLE PRECISION, NULL::DOUBLE PRECISION[], NULL::BIGINT[];
END
$$"""

_SETTLE = f"""
CREATE OR REPLACE FUNCTION llmring_settle(
    p_id TEXT, p_key TEXT, p_rated BOOLEAN, p_tokens BIGINT, p_period TEXT,
    p_reserved DOUBLE PRECISION, p_cost DOUBLE PRECISION)
RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_old BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock({_LOCK_SPACE}, hashtext(p_key));
    PERFORM set_config('synchronous_commit', 'off', true);  -- as llmring_admit
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

#: schema version 4 in PostgreSQL: the two functions in their second form (the module's
#: docstring); SQLite's version 4 changes nothing
SCHEMA_4: tuple[str, ...] = (_ADMIT, _SETTLE)
