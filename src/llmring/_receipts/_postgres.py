"""The shared receipt store: one PostgreSQL database behind gateways on several hosts.

The same rows, keys and answers as :mod:`llmring._receipts._sqlite`, through psycopg 3
(imported only here, and only when a ``postgresql://`` URL is used: ``llmring[postgres]``).

* **Connections.** One synchronous ``psycopg_pool.ConnectionPool`` per database and process,
  shared by every store opened on it: the writer thread, the gateway's key reads (run in the
  event loop's worker threads) and the CLI all use the store from threads, never from the
  loop. A store's ``close()`` leaves the pool to the next one; :func:`close_pools` closes them
  (at exit, after the writers have flushed).
* **Writes.** A batch is one transaction: ``COPY`` into a per-connection temporary table, then
  ``INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING``, so a replayed receipt is stored once.
* **Schema.** Versioned like SQLite's (:data:`MIGRATIONS`, table ``schema_version``), but
  never migrated on open: several hosts share the database, so ``llmring store migrate``
  applies the migrations (:func:`migrate`, under an advisory lock) and every store checks on
  open that the database is at :data:`SCHEMA_VERSION`, refusing one behind or ahead.
* **Secrets.** The URL may hold a password. Errors name the store without it, and the driver's
  exceptions are chained only as scrubbed stand-ins (:func:`llmring._chain.raise_from`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmring._receipts._keys import ID_PREFIX, KEY_PREFIX, check_key_name, key_hash, new_key
from llmring._receipts._keys import PREFIX_CHARS as KEY_PREFIX_CHARS
from llmring._receipts._receipt import COLUMNS, iso
from llmring._receipts._sqlite import _ADDED, _INTEGER, _REAL, _where
from llmring._receipts._sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from llmring._receipts._store import Grouping, ReceiptFilter, StoreError
from llmring.exceptions import ConfigurationError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from llmring._receipts._settings import StoreURL

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PostgresStore",
    "close_pools",
    "migrate",
    "require_driver",
]


def _column(name: str) -> str:
    kind = "BIGINT" if name in _INTEGER else "DOUBLE PRECISION" if name in _REAL else "TEXT"
    # byte order for ids and times, as SQLite compares them, whatever the database's locale
    collate = ' COLLATE "C"' if name in ("id", "started_at") else ""
    suffix = " PRIMARY KEY" if name == "id" else " NOT NULL" if name == "started_at" else ""
    return f"{name} {kind}{collate}{suffix}"


#: ``(version, statements)`` in order, mirroring SQLite's versions (a released version's
#: statements never change); version 2's statements are SQLite's, valid PostgreSQL as written
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            f"CREATE TABLE receipts ({', '.join(_column(c) for c in COLUMNS if c not in _ADDED)})",
            *SQLITE_MIGRATIONS[0][1][1:],  # its indexes
        ),
    ),
    (2, dict(SQLITE_MIGRATIONS)[2]),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
#: the advisory lock ``llmring store migrate`` holds, so two hosts migrating at once take turns
MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"llmring store migrate").digest()[:8], "big") >> 1

_KEY_FIELDS = "id, name, prefix, created_at, revoked_at"  # never the hash
_GROUP_KEYS: dict[Grouping, str] = {
    "alias": "alias",
    "model": "provider || ':' || model",
    "provider": "provider",
    "day": "substr(started_at, 1, 10)",
    "key": "key_id",
}
_NAMES = ", ".join(COLUMNS)
_STAGING = (
    "CREATE TEMPORARY TABLE receipts_batch ("
    + ", ".join(_column(c).removesuffix(" PRIMARY KEY").removesuffix(" NOT NULL") for c in COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
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
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = _pool(store)

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
                    copy.write_row([row.get(c) for c in COLUMNS])
            cursor.execute(_INSERT)
            return max(cursor.rowcount, 0)

    # -- reading ------------------------------------------------------------------------------

    def query(self, where: ReceiptFilter, limit: int | None = None) -> list[dict[str, Any]]:
        clause, params = _where(where, "%s")
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
        clause, params = _where(where, "%s")
        key = _GROUP_KEYS[by]
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
            return _version(db)

    # -- the gateway's API keys (docs/serve.md#keys) -------------------------------------------

    def create_key(self, name: str) -> tuple[dict[str, Any], str]:
        import psycopg

        check_key_name(name)
        key_id, key = new_key()
        record = {
            "id": key_id,
            "name": name,
            "prefix": key[:KEY_PREFIX_CHARS],
            "created_at": iso(datetime.now(UTC)),
            "revoked_at": None,
        }
        with self._connection("creating a key") as db:
            try:
                with db.transaction():
                    db.execute(
                        "INSERT INTO api_keys (id, name, prefix, hash, created_at) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        (key_id, name, record["prefix"], key_hash(key), record["created_at"]),
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
        sql = f"SELECT {_KEY_FIELDS} FROM api_keys{live} ORDER BY created_at, id"
        return self._rows("reading keys", sql, [])

    def revoke_key(self, name_or_id: str) -> dict[str, Any]:
        if name_or_id.startswith(KEY_PREFIX):  # the key itself: found by its hash, never shown
            condition, value, told = "hash = %s", key_hash(name_or_id), "matching the key given"
        elif name_or_id.startswith(ID_PREFIX):
            condition, value, told = "id = %s", name_or_id, f"with id {name_or_id!r}"
        else:
            condition, value = "name = %s AND revoked_at IS NULL", name_or_id
            told = f"named {name_or_id!r}"
        from psycopg.rows import dict_row

        with self._connection("revoking a key") as db, db.transaction():
            cursor = db.cursor(row_factory=dict_row)
            row = cursor.execute(
                f"SELECT {_KEY_FIELDS} FROM api_keys WHERE {condition} FOR UPDATE", (value,)
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
        self._pool = None  # the pool stays open for the next store of this process

    # -- connections --------------------------------------------------------------------------

    @contextmanager
    def _connection(
        self, doing: str, timeout: float | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        if self._pool is None:
            raise StoreError(f"the receipt store {self.path} is closed")
        with _failures(self.store, doing), self._pool.connection(timeout) as db:
            yield db

    def _rows(self, doing: str, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self._connection(doing) as db:
            return db.cursor(row_factory=dict_row).execute(sql, params).fetchall()


# -- errors -------------------------------------------------------------------------------------


@contextmanager
def _failures(store: StoreURL, doing: str) -> Iterator[None]:
    """The driver's errors as :class:`StoreError`, scrubbed of the store's password."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        from llmring._chain import raise_from

        told = " ".join(scrub(store, str(exc)).split()) or type(exc).__name__
        raise_from(StoreError(f"the receipt store {store.shown}: {doing}: {told}"), exc, told)


def scrub(store: StoreURL, text: str) -> str:
    """``text`` without the store's password (as written and decoded) or anything key-shaped."""
    from llmring._secrets import MASK, redact

    for secret in sorted(store.secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact(text)


# -- the schema ---------------------------------------------------------------------------------


def _version(db: psycopg.Connection[Any]) -> int:
    found = db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def check_version(store: StoreURL, version: int) -> None:
    """``ConfigurationError`` unless ``version`` is this llmring's, saying what to do."""
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the receipt store {store.shown} is at schema version {version}, newer than this "
            f"llmring knows ({SCHEMA_VERSION}); upgrade llmring to use it"
        )
    if version < SCHEMA_VERSION:
        raise ConfigurationError(
            f"the receipt store {store.shown} is at schema version {version}, and this llmring "
            f"needs {SCHEMA_VERSION}: run 'llmring store migrate' (with the same --receipts "
            "URL) first"
        )


def migrate(store: StoreURL) -> tuple[int, int]:
    """Bring the database to :data:`SCHEMA_VERSION`, in one transaction under an advisory
    lock (hosts migrating at once take turns; the second finds nothing to do). The versions
    before and after; ``ConfigurationError`` for a database newer than this llmring."""
    psycopg = require_driver()
    with _failures(store, "migrating"), _connect(psycopg, store) as db, db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        before = _version(db)
        if before > SCHEMA_VERSION:
            check_version(store, before)
        for version, statements in MIGRATIONS:
            if version > before:
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    with _pools_lock:
        _current.discard(store.dsn)
    return before, max(before, SCHEMA_VERSION)


# -- the pools ----------------------------------------------------------------------------------

_pools: dict[str, ConnectionPool[Any]] = {}
_current: set[str] = set()  # databases seen at SCHEMA_VERSION by this process
_pools_lock = threading.Lock()
_CONNECT = {"autocommit": True, "application_name": "llmring"}


def require_driver() -> Any:
    """psycopg, or a ``ConfigurationError`` with the command that installs it."""
    try:
        import psycopg
        import psycopg_pool  # noqa: F401 - both come with the extra
    except ImportError:
        from llmring._install import install_hint

        raise ConfigurationError(
            "a PostgreSQL receipt store needs psycopg, which is not installed; run: "
            f"{install_hint('postgres')}"
        ) from None
    return psycopg


def _connect(psycopg: Any, store: StoreURL) -> psycopg.Connection[Any]:
    timeout = {} if "connect_timeout" in store.dsn else {"connect_timeout": 10}
    return psycopg.connect(store.dsn, **_CONNECT, **timeout)  # type: ignore[no-any-return]


def _pool(store: StoreURL) -> ConnectionPool[Any]:
    """This process's pool for ``store``'s database; the first time, one direct connection
    checks the schema version (a pool would only say it timed out; this says why)."""
    psycopg = require_driver()
    with _pools_lock:
        pool = _pools.get(store.dsn)
        if pool is not None and store.dsn in _current:
            return pool
    with _failures(store, "connecting"), _connect(psycopg, store) as db:
        version = _version(db)
    check_version(store, version)
    from psycopg_pool import ConnectionPool

    with _pools_lock:
        _current.add(store.dsn)
        pool = _pools.get(store.dsn)
        if pool is None:
            if not _pools:
                import atexit

                atexit.register(_at_exit)
            timeout = {} if "connect_timeout" in store.dsn else {"connect_timeout": 10}
            pool = _pools[store.dsn] = ConnectionPool(
                store.dsn,
                min_size=1,
                max_size=8,
                open=True,
                kwargs={**_CONNECT, **timeout},
                configure=_configure,
                timeout=10.0,
                name="llmring-receipts",
            )
        return pool


def _configure(db: psycopg.Connection[Any]) -> None:
    """Each new connection's staging table for batched writes (temporary: its own)."""
    db.execute(_STAGING)


def close_pools() -> None:
    """Close every pool of this process (the exit hook; tests between databases)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
        _current.clear()
    for pool in pools:
        pool.close()


def _at_exit() -> None:
    # registered after the writers' own hook, so run before it: flush first, then close
    from llmring._receipts._writer import flush_all

    flush_all()
    close_pools()
