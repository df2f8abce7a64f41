"""The store contract, run against SQLite and a real PostgreSQL alike (tests/postgres.py): the
same rows, queries, totals and id lookups, a replayed batch stored once; then what only the
shared store has: ``llmring store migrate`` (versions, an advisory lock, a newer database
refused) and the check at open."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmring._receipts._postgres import (
    MIGRATIONS,
    SCHEMA_VERSION,
    PostgresStore,
    close_pools,
    migrate,
)
from llmring._receipts._receipt import COLUMNS, iso
from llmring._receipts._settings import StoreURL, open_receipt_store, parse_store_url
from llmring._receipts._sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from llmring._receipts._store import ReceiptFilter, ReceiptStore, StoreError
from llmring.exceptions import ConfigurationError
from tests.postgres import PostgresServer
from tests.test_receipts import a_row


def pg(url: str) -> StoreURL:
    store = parse_store_url(url, Path.cwd(), "test")
    assert store is not None and store.kind == "postgresql"
    return store


def at(minutes: int) -> str:
    return iso(datetime(2026, 12, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes))


def mixed_rows() -> list[dict[str, Any]]:
    """Receipts of two aliases, three days, priced and unpriced, with and without keys."""
    return [
        a_row(10, id="0193a-aaa", started_at=at(0), cost_status="priced", cost_usd=0.25),
        a_row(20, id="0193a-aab", started_at=at(1), cost_status="priced", cost_usd=0.5),
        a_row(5, id="0193b-ccc", started_at=at(60 * 24), alias="Other", key_id="key_a"),
        a_row(
            1,
            id="0193c-ddd",
            started_at=at(60 * 48),
            status="error",
            provider=None,
            model=None,
            usage_source=None,
            cost_status="no_usage",
            prompt_tokens=None,
            completion_tokens=None,
            total_tokens=None,
            conversation_id=None,
            key_id="key_b",
        ),
        a_row(3, id="0193d-eee", started_at=at(60 * 48 + 1), usage_source="estimated"),
        a_row(4, id="0193d_fff", started_at=at(60 * 48 + 2), alias=None, status="rejected"),
    ]


# -- the contract, both stores --------------------------------------------------------------------


def test_a_batch_is_stored_once_however_often_it_is_replayed(receipt_store: ReceiptStore) -> None:
    rows = mixed_rows()
    assert receipt_store.write(rows) == len(rows)
    assert receipt_store.write(rows) == 0  # a spill file imported twice
    assert receipt_store.write([*rows[:2], a_row(9, id="new")]) == 1
    assert receipt_store.write([a_row(8, id="twice"), a_row(8, id="twice")]) == 1
    assert receipt_store.write([]) == 0
    assert len(receipt_store.query(ReceiptFilter())) == len(rows) + 2


def test_rows_come_back_as_they_were_written(receipt_store: ReceiptStore) -> None:
    rows = mixed_rows()
    receipt_store.write(rows)
    stored = receipt_store.query(ReceiptFilter())
    assert [row["id"] for row in stored] == [row["id"] for row in reversed(rows)]  # newest first
    by_id = {row["id"]: row for row in stored}
    for row in rows:
        assert by_id[row["id"]] == {c: row.get(c) for c in COLUMNS}
        assert list(by_id[row["id"]]) == list(COLUMNS)


def test_queries_filter_and_limit(receipt_store: ReceiptStore) -> None:
    receipt_store.write(mixed_rows())
    ids = [r["id"] for r in receipt_store.query(ReceiptFilter(alias="chatbot"), limit=2)]
    assert ids == ["0193d-eee", "0193c-ddd"]
    assert [r["id"] for r in receipt_store.query(ReceiptFilter(status="error"))] == ["0193c-ddd"]
    since = receipt_store.query(ReceiptFilter(since=at(60 * 24)))
    assert [r["id"] for r in since] == ["0193d_fff", "0193d-eee", "0193c-ddd", "0193b-ccc"]
    assert receipt_store.query(ReceiptFilter(conversation_id="c5"))[0]["id"] == "0193b-ccc"
    assert receipt_store.query(ReceiptFilter(alias="nobody")) == []
    assert receipt_store.last_conversation() == "c4"


def test_an_id_or_its_unique_start_finds_one_receipt(receipt_store: ReceiptStore) -> None:
    receipt_store.write(mixed_rows())
    assert receipt_store.get("0193b")["id"] == "0193b-ccc"  # type: ignore[index]
    assert receipt_store.get("0193c-ddd")["status"] == "error"  # type: ignore[index]
    assert receipt_store.get("0193d_")["id"] == "0193d_fff"  # type: ignore[index]  # "_" literal
    assert receipt_store.get("0193%") is None  # "%" is not a wildcard
    assert receipt_store.get("zzz") is None
    with pytest.raises(LookupError, match="'0193a' is the start of several receipt ids"):
        receipt_store.get("0193a")


@pytest.mark.parametrize("by", ["alias", "model", "provider", "day", "key"])
def test_totals_count_unpriced_calls_apart(receipt_store: ReceiptStore, by: Any) -> None:
    receipt_store.write(mixed_rows())
    totals = receipt_store.totals(by, ReceiptFilter())
    assert sum(group["calls"] for group in totals) == 6
    for group in totals:
        assert all(isinstance(group[k], int) for k in ("calls", "prompt_tokens", "total_tokens"))
    if by != "alias":
        return
    assert totals == [
        {
            "key": None,
            "calls": 1,
            "priced_calls": 0,
            "unpriced_calls": 1,
            "no_usage_calls": 0,
            "estimated_calls": 0,
            "failed_calls": 1,
            "prompt_tokens": 4,
            "completion_tokens": 1,
            "total_tokens": 5,
            "cost_usd": None,
        },
        {
            "key": "Other",  # byte order: upper case first, as SQLite sorts
            "calls": 1,
            "priced_calls": 0,
            "unpriced_calls": 1,
            "no_usage_calls": 0,
            "estimated_calls": 0,
            "failed_calls": 0,
            "prompt_tokens": 5,
            "completion_tokens": 1,
            "total_tokens": 6,
            "cost_usd": None,
        },
        {
            "key": "chatbot",
            "calls": 4,
            "priced_calls": 2,
            "unpriced_calls": 1,
            "no_usage_calls": 1,
            "estimated_calls": 1,
            "failed_calls": 1,
            "prompt_tokens": 33,
            "completion_tokens": 3,
            "total_tokens": 36,
            "cost_usd": 0.75,
        },
    ]


def test_totals_by_day_and_key_and_since(receipt_store: ReceiptStore) -> None:
    receipt_store.write(mixed_rows())
    days = receipt_store.totals("day", ReceiptFilter())
    assert [(d["key"], d["calls"]) for d in days] == [
        ("2026-12-01", 2),
        ("2026-12-02", 1),
        ("2026-12-03", 3),
    ]
    keys = receipt_store.totals("key", ReceiptFilter(since=at(60 * 24)))
    assert [(k["key"], k["calls"]) for k in keys] == [(None, 2), ("key_a", 1), ("key_b", 1)]
    models = receipt_store.totals("model", ReceiptFilter(alias="chatbot"))
    assert [(m["key"], m["calls"]) for m in models] == [(None, 1), ("mock:chatbot", 3)]


# -- PostgreSQL: migrations ---------------------------------------------------------------------


def test_the_postgresql_schema_mirrors_sqlites_versions() -> None:
    assert [v for v, _ in MIGRATIONS] == [v for v, _ in SQLITE_MIGRATIONS] == [1, 2, 3, 4]
    assert SCHEMA_VERSION == 4


def test_migrate_brings_a_database_to_the_current_version_once(pg_url: str) -> None:
    store = pg(pg_url)
    assert migrate(store) == (0, SCHEMA_VERSION)
    assert migrate(store) == (SCHEMA_VERSION, SCHEMA_VERSION)
    opened = PostgresStore(store)
    assert opened.schema_version() == SCHEMA_VERSION
    assert opened.write([a_row(1, key_id="key_0123456789ab")]) == 1


def test_a_database_at_version_3_gets_the_admission_functions_second_form(pg_url: str) -> None:
    import psycopg

    from llmring._receipts._admission import Ask, Grant, KeyLimits
    from llmring._receipts._postgres_admission import PostgresAdmission

    def admit_source(db: psycopg.Connection[Any]) -> str:
        row = db.execute("SELECT prosrc FROM pg_proc WHERE proname = 'llmring_admit'").fetchone()
        assert row is not None
        return str(row[0])

    with psycopg.connect(pg_url, autocommit=True) as db:  # as an llmring of version 3 left it
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, statements in MIGRATIONS[:3]:
            for statement in statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
        assert "synchronous_commit" not in admit_source(db)
    store = pg(pg_url)
    assert migrate(store) == (3, 4)
    with psycopg.connect(pg_url) as db:
        assert "synchronous_commit" in admit_source(db)
    admission = PostgresAdmission(store)
    limits = KeyLimits(rpm=1, budget_usd=1.0, budget_period="day")
    grant = admission.admit(Ask("key_0123456789ab", limits, tokens=10, cost_usd=0.25))
    assert isinstance(grant, Grant)
    admission.settle(grant, 10, 0.5)
    assert not isinstance(admission.admit(Ask("key_0123456789ab", limits, 10, 0.25)), Grant)


def test_migrations_from_hosts_at_once_take_turns(pg_url: str) -> None:
    store = pg(pg_url)
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def host() -> None:
        start.wait()
        try:
            results.append(migrate(store))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=host) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    now = SCHEMA_VERSION
    assert sorted(results) == [(0, now), (now, now), (now, now), (now, now)]  # one migrated
    assert PostgresStore(store).schema_version() == SCHEMA_VERSION


def test_a_database_not_migrated_is_refused_saying_what_to_run(pg_url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"schema version 0.*llmring store migrate"):
        open_receipt_store(pg(pg_url))


def test_a_database_from_a_newer_llmring_is_refused(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    store = pg(pg_url)
    migrate(store)
    close_pools()
    database = pg_url.rsplit("/", 1)[1]
    newer = SCHEMA_VERSION + 1
    postgres_server.admin(
        f"INSERT INTO schema_version (version) VALUES ({newer})", database=database
    )
    with pytest.raises(ConfigurationError, match=rf"schema version {newer}, newer.*upgrade"):
        open_receipt_store(store)
    with pytest.raises(ConfigurationError, match=rf"schema version {newer}, newer"):
        migrate(store)


def test_an_unreachable_database_is_a_store_error_naming_it() -> None:
    with pytest.raises(
        StoreError,
        match=r"^the receipt store postgresql://gw@127\.0\.0\.1:1/none\S*: connecting: \S.*",
    ):
        open_receipt_store(pg("postgresql://gw@127.0.0.1:1/none?connect_timeout=2"))
