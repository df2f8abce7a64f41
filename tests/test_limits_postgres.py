"""Rate limits and budgets in a PostgreSQL store: the same decisions as SQLite's, one round trip
per check, and one count for every gateway sharing the database (docs/deploy.md).

* :class:`PostgresAdmission` against a real PostgreSQL (tests/postgres.py): rpm, tpm settled to
  real usage, budgets reserved and charged once, unpriced models, and many threads on one key;
* the key limits in the PostgreSQL store (``keys create --rpm ...``, ``keys limit``);
* two ``llmring serve`` processes (two "hosts") sharing one database: a key's rpm holds across
  both under concurrent load, and no refused request reaches the provider.

The database's clock decides the window here, so these tests do not move time; the window's
arithmetic under a moving clock is tested once, on SQLite (tests/test_serve_limits.py), since
both stores word their refusals with the same pure functions.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmring._receipts._admission import Ask, Grant, KeyLimits, Refusal, key_limits
from llmring._receipts._postgres import PostgresStore
from llmring._receipts._postgres_admission import PostgresAdmission
from llmring._receipts._settings import StoreURL
from tests.loopback import Reply
from tests.postgres import migrated
from tests.serve_process import ServeProcess, ThreadedLoopback, gateway_env
from tests.test_serve_keys import keys_cli, store_cli
from tests.wire_harness import lockfile_text


def granted(decided: Grant | Refusal) -> Grant:
    assert isinstance(decided, Grant), decided
    return decided


def refused(decided: Grant | Refusal) -> Refusal:
    assert isinstance(decided, Refusal), decided
    return decided


def spend(store: StoreURL, key: str) -> tuple[float, float]:
    """What ``key``'s budget period holds: (spent, reserved)."""
    import psycopg

    with psycopg.connect(store.dsn) as db:
        row = db.execute(
            "SELECT spent_usd, reserved_usd FROM budget_spend WHERE key_id = %s", (key,)
        ).fetchone()
    assert row is not None
    return float(row[0]), float(row[1])


def test_rpm_admits_n_and_tells_when_a_slot_frees(pg_url: str) -> None:
    admission = PostgresAdmission(migrated(pg_url))
    ask = Ask("key_a", KeyLimits(rpm=5))
    grants = [granted(admission.admit(ask)) for _ in range(5)]
    refusal = refused(admission.admit(ask))
    assert refusal.reason == "rpm"
    assert refusal.message == "this key's limit of 5 requests per minute is reached"
    assert refusal.retry_after is not None and 55 < refusal.retry_after <= 60
    # the database's clock: the grants' times are in order and close to now
    assert [g.at for g in grants] == sorted(g.at for g in grants)
    assert abs(grants[0].at - time.time()) < 30
    # another key has its own window
    assert isinstance(admission.admit(Ask("key_b", KeyLimits(rpm=5))), Grant)


def test_concurrent_checks_of_one_key_admit_exactly_n(pg_url: str) -> None:
    admission = PostgresAdmission(migrated(pg_url))
    ask = Ask("key_busy", KeyLimits(rpm=20))
    with ThreadPoolExecutor(8) as pool:
        decided = list(pool.map(lambda _: admission.admit(ask), range(60)))
    assert sum(isinstance(d, Grant) for d in decided) == 20
    assert {d.reason for d in decided if isinstance(d, Refusal)} == {"rpm"}


def test_tpm_reserves_then_settles_to_the_real_usage(pg_url: str) -> None:
    admission = PostgresAdmission(migrated(pg_url))
    limits = KeyLimits(tpm=100)
    first = granted(admission.admit(Ask("key_t", limits, tokens=60)))
    over = refused(admission.admit(Ask("key_t", limits, tokens=60)))
    assert over.reason == "tpm" and over.retry_after is not None
    admission.settle(first, 10, None)  # it used 10 of the 60 it reserved
    granted(admission.admit(Ask("key_t", limits, tokens=60)))
    alone = refused(admission.admit(Ask("key_t", limits, tokens=101)))
    assert alone.retry_after is None and "send a smaller max_tokens" in alone.message


def test_a_budget_reserves_the_worst_case_and_charges_the_real_cost_once(pg_url: str) -> None:
    store = migrated(pg_url)
    admission = PostgresAdmission(store)
    limits = key_limits(budget="3/day")
    grants = [granted(admission.admit(Ask("key_$", limits, cost_usd=1.0))) for _ in range(3)]
    assert grants[0].period is not None and grants[0].reserved_usd == 1.0
    assert spend(store, "key_$") == (0.0, 3.0)
    refusal = refused(admission.admit(Ask("key_$", limits, cost_usd=1.0)))
    assert refusal.reason == "budget" and "$3 per day" in refusal.message
    admission.settle(grants[0], 0, 0.5)
    admission.settle(grants[0], 0, 0.5)  # a second settle of one grant charges nothing
    assert spend(store, "key_$") == (0.5, 2.0)
    refused(admission.admit(Ask("key_$", limits, cost_usd=1.0)))  # 0.5 left
    granted(admission.admit(Ask("key_$", limits, cost_usd=0.5)))


def test_unpriced_under_a_budget_needs_allow_unpriced(pg_url: str) -> None:
    admission = PostgresAdmission(migrated(pg_url))
    strict = refused(admission.admit(Ask("key_u", key_limits(budget="1/month"))))
    assert strict.reason == "unpriced"
    loose = granted(
        admission.admit(Ask("key_v", key_limits(budget="1/month", allow_unpriced=True)))
    )
    assert loose.reserved_usd == 0.0 and loose.period is not None and len(loose.period) == 7


def test_the_store_keeps_each_keys_limits(pg_url: str) -> None:
    store = PostgresStore(migrated(pg_url))
    record, _ = store.create_key("limited", key_limits(rpm=10, budget="2.5/day"))
    store.create_key("free")
    assert record["rpm"] == 10 and record["budget_usd"] == 2.5
    listed = {r["name"]: r for r in store.list_keys()}
    assert listed["limited"]["budget_period"] == "day"
    assert listed["limited"]["allow_unpriced"] is False
    assert store.key_limits() == {record["id"]: key_limits(rpm=10, budget="2.5/day")}
    changed = store.set_key_limits("limited", KeyLimits(tpm=500))
    assert changed["tpm"] == 500 and changed["rpm"] is None
    assert store.key_limits() == {record["id"]: KeyLimits(tpm=500)}
    with pytest.raises(LookupError, match="no live key 'nobody'"):
        store.set_key_limits("nobody", KeyLimits(rpm=1))


# -- two gateways sharing one database ------------------------------------------------------------


def test_a_keys_rpm_holds_across_two_gateways_sharing_postgresql(
    pg_url: str, tmp_path: Path
) -> None:
    assert store_cli("migrate", "--receipts", pg_url).returncode == 0
    made = keys_cli(pg_url, "create", "shared", "--rpm", "20")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    (record,) = json.loads(keys_cli(pg_url, "list", "--json").stdout)
    assert record["rpm"] == 20
    with ThreadedLoopback() as upstream:
        upstream.server.reply = Reply.wire("openai/chat-gpt-4o-mini-text-usage.sse")
        lockfile = tmp_path / "llmring.lock"
        text = lockfile_text({"openai": upstream.url("openai")}, {"chatbot": ["openai:m"]})
        lockfile.write_text(text, encoding="utf-8")
        env = gateway_env(["openai"], tmp_path)
        with (
            ServeProcess(lockfile, store=pg_url, env=env) as one,
            ServeProcess(lockfile, store=pg_url, env=env) as two,
        ):
            started = time.monotonic()

            def ask(n: int) -> httpx.Response:
                gateway = (one, two)[n % 2]
                body: dict[str, Any] = {
                    "model": "chatbot",
                    "messages": [{"role": "user", "content": "hi"}],
                }
                return httpx.post(
                    gateway.base_url + "/chat/completions",
                    json=body,
                    headers={"authorization": f"Bearer {key}"},
                    timeout=30,
                )

            with ThreadPoolExecutor(16) as pool:
                replies = list(pool.map(ask, range(60)))
            took = time.monotonic() - started
        statuses = [r.status_code for r in replies]
        assert took < 55, f"the load took {took:.0f} s: the window moved under it"
        assert set(statuses) <= {200, 429}, [r.text for r in replies if r.status_code >= 500]
        assert statuses.count(200) == 20  # one count for both hosts: 20, not 2 x 20
        assert len(upstream.server.requests) == 20  # no refused request reached the provider
        served_by = {r.headers["x-llmring-request-id"] for r in replies}
        assert len(served_by) == 60
