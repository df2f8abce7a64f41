"""The embedded receipt store: one SQLite file in WAL mode.

The schema is versioned from the first release: ``schema_version`` holds the version a file
is at, and :data:`MIGRATIONS` lists each version's SQL in order. Opening a store for writing
applies the missing ones in one transaction; a file written by a newer llmring (a version
above the last one known here) is refused with a clear error rather than written wrongly.

Version 2 added the ``key_id`` column and the ``api_keys`` table of ``llmring serve``'s keys
(:mod:`llmring._receipts._keys`). Version 3 added each key's limits (rpm, tpm, budget) and the
tables admission keeps its counts in (:mod:`llmring._receipts._sqlite_admission`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmring._receipts._admission import KeyLimits
from llmring._receipts._keys import ID_PREFIX, key_hash
from llmring._receipts._receipt import COLUMNS, iso
from llmring._receipts._store import Grouping, ReceiptFilter
from llmring._receipts._store_sql import (
    GROUP_KEYS,
    KEY_FIELDS,
    LIMIT_FIELDS,
    LIVE_LIMITED_KEYS,
    key_record,
    limit_values,
    limits_of,
    new_key_record,
    revoked_key,
    where_clause,
)
from llmring.exceptions import ConfigurationError

__all__ = ["MIGRATIONS", "SQLiteStore"]

_INTEGER = {
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "chunks",
}
_REAL = {"cost_usd", "first_chunk_latency", "duration"}


#: the schema version that added each column after the first (its migration adds it)
_ADDED = {"key_id": 2}


def _column(name: str) -> str:
    kind = "INTEGER" if name in _INTEGER else "REAL" if name in _REAL else "TEXT"
    suffix = " PRIMARY KEY" if name == "id" else " NOT NULL" if name == "started_at" else ""
    return f"{name} {kind}{suffix}"


#: ``(version, statements)`` in order; a released version's statements never change
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            f"CREATE TABLE receipts ({', '.join(_column(c) for c in COLUMNS if c not in _ADDED)})",
            "CREATE INDEX receipts_started_at ON receipts (started_at)",
            "CREATE INDEX receipts_alias ON receipts (alias, started_at)",
            "CREATE INDEX receipts_conversation ON receipts (conversation_id, started_at)",
        ),
    ),
    (
        2,
        (
            "ALTER TABLE receipts ADD COLUMN key_id TEXT",
            (
                "CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                "prefix TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, "
                "revoked_at TEXT)"
            ),
            # a name names one live key; a revoked key's name can be given to a new one
            "CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL",
        ),
    ),
    (
        3,
        (
            # a key's limits (llmring._receipts._admission.KeyLimits); NULL: no such limit
            "ALTER TABLE api_keys ADD COLUMN rpm INTEGER",
            "ALTER TABLE api_keys ADD COLUMN tpm INTEGER",
            "ALTER TABLE api_keys ADD COLUMN budget_usd REAL",
            "ALTER TABLE api_keys ADD COLUMN budget_period TEXT",
            "ALTER TABLE api_keys ADD COLUMN allow_unpriced INTEGER NOT NULL DEFAULT 0",
            # the rate limits' sliding window: one row per request of a key with an rpm or a
            # tpm admitted in the last minute (when, the tokens it holds), and their count and
            # token sum per key, kept with them, so a check reads one row
            (
                "CREATE TABLE admissions (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
                "at REAL NOT NULL, tokens INTEGER NOT NULL)"
            ),
            "CREATE INDEX admissions_key_at ON admissions (key_id, at)",
            (
                "CREATE TABLE rate_windows (key_id TEXT PRIMARY KEY, "
                "requests INTEGER NOT NULL, tokens INTEGER NOT NULL)"
            ),
            # budgets: per key and period (2026-12-03, 2026-12), what the settled calls cost
            # and the worst cases the running ones reserve; and each running reservation
            (
                "CREATE TABLE budget_spend (key_id TEXT NOT NULL, period TEXT NOT NULL, "
                "spent_usd REAL NOT NULL DEFAULT 0, reserved_usd REAL NOT NULL DEFAULT 0, "
                "PRIMARY KEY (key_id, period))"
            ),
            (
                "CREATE TABLE reservations (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, "
                "period TEXT NOT NULL, usd REAL NOT NULL)"
            ),
            "CREATE INDEX reservations_key ON reservations (key_id, period)",
        ),
    ),
    # version 4 rewrote PostgreSQL's admission functions; SQLite's tables are as at 3 (the
    # versions stay one numbering for both stores)
    (4, ()),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_INSERT = (
    f"INSERT OR IGNORE INTO receipts ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


class SQLiteStore:
    """A :class:`~llmring._receipts._store.ReceiptStore` in the SQLite file ``path``.

    ``create=False`` (readers: ``llmring logs``) never creates the file: a missing file is an
    empty store. Errors opening or migrating it are ``sqlite3.Error``/``OSError`` (the writer
    spills on them) or ``ConfigurationError`` for a file from a newer llmring. One thread at a
    time uses it, not always the same one (``llmring serve`` reads its keys from a worker
    thread of the event loop's pool).
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        if not create and not path.exists():
            return
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    def _migrate(self, db: sqlite3.Connection) -> None:
        with _transaction(db):
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"the receipt store {self.path} is at schema version {current}, newer than "
                    f"this llmring knows ({SCHEMA_VERSION}); upgrade llmring to use it"
                )
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        db.execute(statement)
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    # -- writing ------------------------------------------------------------------------------

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        db = self._open()
        with _transaction(db):
            before = db.total_changes
            db.executemany(_INSERT, [tuple(row.get(c) for c in COLUMNS) for row in rows])
            return db.total_changes - before

    # -- reading ------------------------------------------------------------------------------

    def query(self, where: ReceiptFilter, limit: int | None = None) -> list[dict[str, Any]]:
        if self._db is None:
            return []
        clause, params = where_clause(where)
        sql = f"SELECT * FROM receipts{clause} ORDER BY started_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [dict(row) for row in self._db.execute(sql, params)]

    def get(self, receipt_id: str) -> dict[str, Any] | None:
        if self._db is None:
            return None
        escaped = receipt_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db.execute(
            "SELECT * FROM receipts WHERE id = ? OR id LIKE ? ESCAPE '\\' LIMIT 3",
            (receipt_id, escaped + "%"),
        ).fetchall()
        exact = [row for row in rows if row["id"] == receipt_id]
        if exact:
            return dict(exact[0])
        if len(rows) > 1:
            raise LookupError(f"{receipt_id!r} is the start of several receipt ids")
        return dict(rows[0]) if rows else None

    def totals(self, by: Grouping, where: ReceiptFilter) -> list[dict[str, Any]]:
        if self._db is None:
            return []
        clause, params = where_clause(where)
        key = GROUP_KEYS[by]
        sql = f"""
            SELECT {key} AS key,
                   count(*) AS calls,
                   sum(cost_status = 'priced') AS priced_calls,
                   sum(cost_status = 'unpriced') AS unpriced_calls,
                   sum(cost_status = 'no_usage') AS no_usage_calls,
                   sum(usage_source = 'estimated') AS estimated_calls,
                   sum(status != 'ok') AS failed_calls,
                   coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
                   coalesce(sum(completion_tokens), 0) AS completion_tokens,
                   coalesce(sum(total_tokens), 0) AS total_tokens,
                   sum(CASE WHEN cost_status = 'priced' THEN cost_usd END) AS cost_usd
            FROM receipts{clause}
            GROUP BY key ORDER BY key
        """
        return [dict(row) for row in self._db.execute(sql, params)]

    def last_conversation(self) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute(
            "SELECT conversation_id FROM receipts WHERE conversation_id IS NOT NULL "
            "ORDER BY started_at DESC, id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    # -- the gateway's API keys (docs/serve.md#keys) -------------------------------------------

    def create_key(self, name: str, limits: KeyLimits | None = None) -> tuple[dict[str, Any], str]:
        record, key = new_key_record(name, limits)
        key_id = record["id"]
        db = self._open()
        with _transaction(db):
            if db.execute(
                "SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone():
                raise ValueError(
                    f"a key named {name!r} already exists in {self.path}; revoke it first "
                    f"(llmring keys revoke {name}) or choose another name"
                )
            db.execute(
                f"INSERT INTO api_keys (id, name, prefix, hash, created_at, "
                f"{', '.join(LIMIT_FIELDS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key_id, name, record["prefix"], key_hash(key), record["created_at"])
                + tuple(record[f] for f in LIMIT_FIELDS),
            )
        return record, key

    def list_keys(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        if self._db is None:
            return []
        live = "" if include_revoked else " WHERE revoked_at IS NULL"
        sql = f"SELECT {KEY_FIELDS} FROM api_keys{live} ORDER BY created_at, id"
        return [key_record(row) for row in self._db.execute(sql)]

    def set_key_limits(self, name_or_id: str, limits: KeyLimits) -> dict[str, Any]:
        condition, value = _live_key(name_or_id)
        db = self._open()
        with _transaction(db):
            values = limit_values(limits)
            changed = db.execute(
                f"UPDATE api_keys SET {', '.join(f'{f} = ?' for f in LIMIT_FIELDS)} "
                f"WHERE {condition} AND revoked_at IS NULL",
                (*values.values(), value),
            ).rowcount
            if not changed:
                raise LookupError(
                    f"no live key {name_or_id!r} in {self.path} (llmring keys list shows them)"
                )
            row = db.execute(
                f"SELECT {KEY_FIELDS} FROM api_keys WHERE {condition} AND revoked_at IS NULL",
                (value,),
            ).fetchone()
        return key_record(row)

    def key_limits(self) -> dict[str, KeyLimits]:
        if self._db is None:
            return {}
        rows = self._db.execute(LIVE_LIMITED_KEYS)
        return {row["id"]: limits_of(row) for row in rows}

    def revoke_key(self, name_or_id: str) -> dict[str, Any]:
        condition, value, told = revoked_key(name_or_id, "?")
        if self._db is None:
            raise LookupError(f"no key {told}: {self.path} does not exist")
        db = self._db
        with _transaction(db):
            row = db.execute(
                f"SELECT {KEY_FIELDS} FROM api_keys WHERE {condition}", (value,)
            ).fetchone()
            if row is None:
                raise LookupError(f"no key {told} in {self.path} (llmring keys list shows them)")
            record = dict(row)
            if record["revoked_at"] is not None:
                raise LookupError(
                    f"the key {record['id']} ({record['name']}) was already revoked at "
                    f"{record['revoked_at']}"
                )
            record["revoked_at"] = iso(datetime.now(UTC))
            db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ?",
                (record["revoked_at"], record["id"]),
            )
        return record

    def active_keys(self) -> dict[str, str]:
        if self._db is None:
            return {}
        rows = self._db.execute("SELECT hash, id FROM api_keys WHERE revoked_at IS NULL")
        return {digest: key_id for digest, key_id in rows}

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.OperationalError(f"{self.path} was opened read-only and does not exist")
        return self._db


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (``BEGIN IMMEDIATE``: several processes share the
    file), committed, or rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _live_key(name_or_id: str) -> tuple[str, str]:
    """The condition finding a key by its id or its (live) name."""
    if name_or_id.startswith(ID_PREFIX):
        return "id = ?", name_or_id
    return "name = ?", name_or_id
