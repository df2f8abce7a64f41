"""The shared receipt store: one PostgreSQL database behind gateways on several hosts.

The same rows, keys and answers as :mod:`llmring._receipts._sqlite`, through psycopg 3
(imported only here, and only when a ``postgresql://`` URL is used: ``llmring[postgres]``).

* **Writes.** A batch is one transaction: ``COPY`` into a per-connection temporary table, then
  ``INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING``, so a replayed receipt is stored once.
* **Connections** (:mod:`llmring._receipts._postgres_pool`): one pool per database and
  process, shared by every store opened on it (a store's ``close()`` leaves it to the next);
  while the database is down every use fails at once with :class:`StoreError`.
* **Schema, errors** (:mod:`llmring._receipts._postgres_db`): the schema checked, never
  migrated, on open (``llmring store migrate`` runs :func:`migrate`); the driver's errors as
  :class:`StoreError` without the URL's password.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmring._receipts._admission import KeyLimits
from llmring._receipts._keys import ID_PREFIX, key_hash
from llmring._receipts._postgres_db import (
    MIGRATIONS,
    SCHEMA_VERSION,
    check_version,
    migrate,
    require_driver,
    schema_version,
)
from llmring._receipts._postgres_pool import close_pools, database
from llmring._receipts._receipt import COLUMNS, iso
from llmring._receipts._store import Grouping, ReceiptFilter, StoreError
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

if TYPE_CHECKING:
    import psycopg

    from llmring._receipts._postgres_pool import Database
    from llmring._receipts._settings import StoreURL

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PostgresStore",
    "check_version",
    "close_pools",
    "migrate",
    "require_driver",
]


_NAMES = ", ".join(COLUMNS)
_COPY = f"COPY receipts_batch ({_NAMES}) FROM STDIN"
_INSERT = (
    f"INSERT INTO receipts ({_NAMES}) SELECT {_NAMES} FROM receipts_batch "
    "ON CONFLICT (id) DO NOTHING"
)


class PostgresStore:
    """A :class:`~llmring._receipts._store.ReceiptStore` in the PostgreSQL database ``store``
    names; see the module docstring. Opening it checks the schema version (the first time in
    this process): ``ConfigurationError`` when the database is not at :data:`SCHEMA_VERSION`,
    :class:`StoreError` when it cannot be reached."""

    def __init__(self, store: StoreURL) -> None:
        self.store = store
        self._database: Database | None = database(store)

    @property
    def path(self) -> str:
        """How messages name this store (``SQLiteStore.path`` is its file): no password."""
        return self.store.shown

    # -- writing ------------------------------------------------------------------------------

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        with self._connection("writing receipts") as db, db.transaction():
            cursor = db.cursor()
            with cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(list(map(row.get, COLUMNS)))
            cursor.execute(_INSERT)
            return max(cursor.rowcount, 0)

    # -- reading ------------------------------------------------------------------------------

    def query(self, where: ReceiptFilter, limit: int | None = None) -> list[dict[str, Any]]:
        clause, params = where_clause(where, "%s")
        sql = f"SELECT * FROM receipts{clause} ORDER BY started_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return self._rows("reading receipts", sql, params)

    def get(self, receipt_id: str) -> dict[str, Any] | None:
        escaped = receipt_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._rows(
            "reading a receipt",
            "SELECT * FROM receipts WHERE id = %s OR id LIKE %s ESCAPE '\\' LIMIT 3",
            [receipt_id, escaped + "%"],
        )
        exact = [row for row in rows if row["id"] == receipt_id]
        if exact:
            return exact[0]
        if len(rows) > 1:
            raise LookupError(f"{receipt_id!r} is the start of several receipt ids")
        return rows[0] if rows else None

    def totals(self, by: Grouping, where: ReceiptFilter) -> list[dict[str, Any]]:
        clause, params = where_clause(where, "%s")
        key = GROUP_KEYS[by]
        # a comparison cast to int sums like SQLite's (NULL stays NULL); sums of BIGINT are
        # NUMERIC, cast back so both stores answer with ints; groups in SQLite's order
        sql = f"""
            SELECT * FROM (SELECT {key} AS key,
                   count(*) AS calls,
                   sum((cost_status = 'priced')::int) AS priced_calls,
                   sum((cost_status = 'unpriced')::int) AS unpriced_calls,
                   sum((cost_status = 'no_usage')::int) AS no_usage_calls,
                   sum((usage_source = 'estimated')::int) AS estimated_calls,
                   sum((status != 'ok')::int) AS failed_calls,
                   coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
                   coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
                   coalesce(sum(total_tokens), 0)::bigint AS total_tokens,
                   sum(CASE WHEN cost_status = 'priced' THEN cost_usd END) AS cost_usd
            FROM receipts{clause}
            GROUP BY 1) AS totals ORDER BY key COLLATE "C" NULLS FIRST
        """
        return self._rows("totalling receipts", sql, params)

    def last_conversation(self) -> str | None:
        rows = self._rows(
            "reading receipts",
            "SELECT conversation_id FROM receipts WHERE conversation_id IS NOT NULL "
            "ORDER BY started_at DESC, id DESC LIMIT 1",
            [],
        )
        return str(rows[0]["conversation_id"]) if rows else None

    def schema_version(self, timeout: float = 2.0) -> int:
        """The version the database is at (``/readyz`` reports it); a database that does not
        give a connection within ``timeout`` seconds is a :class:`StoreError`."""
        with self._connection("reading the schema version", timeout) as db:
            return schema_version(db)

    # -- the gateway's API keys (docs/serve.md#keys) -------------------------------------------

    def create_key(self, name: str, limits: KeyLimits | None = None) -> tuple[dict[str, Any], str]:
        import psycopg

        record, key = new_key_record(name, limits)
        key_id = record["id"]
        with self._connection("creating a key") as db:
            try:
                with db.transaction():
                    db.execute(
                        f"INSERT INTO api_keys (id, name, prefix, hash, created_at, "
                        f"{', '.join(LIMIT_FIELDS)}) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (key_id, name, record["prefix"], key_hash(key), record["created_at"])
                        + tuple(record[f] for f in LIMIT_FIELDS),
                    )
                exists = False
            except psycopg.errors.UniqueViolation:  # the live-name index (docs/serve.md#keys)
                exists = True
        if exists:
            raise ValueError(
                f"a key named {name!r} already exists in {self.path}; revoke it first "
                f"(llmring keys revoke {name}) or choose another name"
            )
        return record, key

    def list_keys(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        live = "" if include_revoked else " WHERE revoked_at IS NULL"
        sql = f"SELECT {KEY_FIELDS} FROM api_keys{live} ORDER BY created_at, id"
        return [key_record(row) for row in self._rows("reading keys", sql, [])]

    def set_key_limits(self, name_or_id: str, limits: KeyLimits) -> dict[str, Any]:
        condition = "id = %s" if name_or_id.startswith(ID_PREFIX) else "name = %s"
        values = limit_values(limits)
        rows = self._rows(
            "changing a key's limits",
            f"UPDATE api_keys SET {', '.join(f'{f} = %s' for f in LIMIT_FIELDS)} "
            f"WHERE {condition} AND revoked_at IS NULL RETURNING {KEY_FIELDS}",
            [*values.values(), name_or_id],
        )
        if not rows:
            raise LookupError(
                f"no live key {name_or_id!r} in {self.path} (llmring keys list shows them)"
            )
        return key_record(rows[0])

    def key_limits(self) -> dict[str, KeyLimits]:
        rows = self._rows(
            "reading key limits",
            LIVE_LIMITED_KEYS,
            [],
        )
        return {row["id"]: limits_of(row) for row in rows}

    def revoke_key(self, name_or_id: str) -> dict[str, Any]:
        condition, value, told = revoked_key(name_or_id, "%s")
        from psycopg.rows import dict_row

        with self._connection("revoking a key") as db, db.transaction():
            cursor = db.cursor(row_factory=dict_row)
            row = cursor.execute(
                f"SELECT {KEY_FIELDS} FROM api_keys WHERE {condition} FOR UPDATE", (value,)
            ).fetchone()
            if row is None:
                raise LookupError(f"no key {told} in {self.path} (llmring keys list shows them)")
            if row["revoked_at"] is not None:
                raise LookupError(
                    f"the key {row['id']} ({row['name']}) was already revoked at "
                    f"{row['revoked_at']}"
                )
            row["revoked_at"] = iso(datetime.now(UTC))
            cursor.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE id = %s", (row["revoked_at"], row["id"])
            )
        return dict(row)

    def active_keys(self) -> dict[str, str]:
        rows = self._rows(
            "reading keys", "SELECT hash, id FROM api_keys WHERE revoked_at IS NULL", []
        )
        return {row["hash"]: row["id"] for row in rows}

    def close(self) -> None:
        self._database = None  # its pool stays open for the next store of this process

    # -- connections --------------------------------------------------------------------------

    @contextmanager
    def _connection(
        self, doing: str, timeout: float | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        if self._database is None:
            raise StoreError(f"the receipt store {self.path} is closed")
        with self._database.connection(doing, timeout) as db:
            yield db

    def _rows(self, doing: str, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self._connection(doing) as db:
            return db.cursor(row_factory=dict_row).execute(sql, params).fetchall()
