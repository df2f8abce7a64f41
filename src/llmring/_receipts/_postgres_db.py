"""The database side of the PostgreSQL store: its schema versions, the connection pools, and
the driver's errors made safe to show.

* **Schema.** Versioned like SQLite's (:data:`MIGRATIONS`, table ``schema_version``), but
  never migrated on open: several hosts share the database, so ``llmring store migrate``
  applies the migrations (:func:`migrate`, under an advisory lock) and every store checks,
  the first time it opens a database in a process, that it is at :data:`SCHEMA_VERSION`,
  refusing one behind or ahead.
* **Pools.** One synchronous ``psycopg_pool.ConnectionPool`` per database and process,
  shared by every store opened on it: the writer thread, the gateway's key reads (run in the
  event loop's worker threads) and the CLI all use a store from threads, never from the loop.
  :func:`close_pools` closes them (at exit, after the writers have flushed).
* **Secrets.** The URL may hold a password. Errors name the store without it, and the driver's
  exceptions are chained only as scrubbed stand-ins (:func:`llmring._chain.raise_from`).

psycopg is imported only inside functions: only a ``postgresql://`` URL needs it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llmring._receipts._postgres_admission import SCHEMA_3
from llmring._receipts._receipt import COLUMNS
from llmring._receipts._sqlite import _ADDED, _INTEGER, _REAL
from llmring._receipts._sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from llmring._receipts._store import StoreError
from llmring.exceptions import ConfigurationError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from llmring._receipts._settings import StoreURL

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "check_version",
    "close_pools",
    "failures",
    "migrate",
    "pool",
    "require_driver",
    "schema_version",
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
    # SQLite's version 3 (key limits, the rate window, budgets) in PostgreSQL's types, and
    # the admission functions: llmring._receipts._postgres_admission
    (3, SCHEMA_3),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
#: the advisory lock ``llmring store migrate`` holds, so two hosts migrating at once take turns
MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"llmring store migrate").digest()[:8], "big") >> 1

#: each connection's staging table for batched writes (temporary: its own)
STAGING = (
    "CREATE TEMPORARY TABLE receipts_batch ("
    + ", ".join(_column(c).removesuffix(" PRIMARY KEY").removesuffix(" NOT NULL") for c in COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)


# -- errors -------------------------------------------------------------------------------------


@contextmanager
def failures(store: StoreURL, doing: str) -> Iterator[None]:
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


def schema_version(db: psycopg.Connection[Any]) -> int:
    """The version the database is at (0: not migrated at all)."""
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
    with failures(store, "migrating"), _connect(psycopg, store) as db, db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        before = schema_version(db)
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
_exit_hook = False


def _connect_args(store: StoreURL) -> dict[str, Any]:
    """Autocommit (a write opens its own transaction), and a connect timeout unless the URL
    sets one: a database that does not answer must not hold a writer or a CLI for minutes."""
    timeout = {} if "connect_timeout" in store.dsn else {"connect_timeout": 10}
    return {"autocommit": True, "application_name": "llmring", **timeout}


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
    return psycopg.connect(store.dsn, **_connect_args(store))  # type: ignore[no-any-return]


def pool(store: StoreURL) -> ConnectionPool[Any]:
    """This process's pool for ``store``'s database; the first time, one direct connection
    checks the schema version (a pool would only say it timed out; this says why)."""
    global _exit_hook
    psycopg = require_driver()
    with _pools_lock:
        found = _pools.get(store.dsn)
        if found is not None and store.dsn in _current:
            return found
    with failures(store, "connecting"), _connect(psycopg, store) as db:
        version = schema_version(db)
    check_version(store, version)
    from psycopg_pool import ConnectionPool

    with _pools_lock:
        _current.add(store.dsn)
        found = _pools.get(store.dsn)
        if found is None:
            if not _exit_hook:
                import atexit

                atexit.register(_at_exit)
                _exit_hook = True
            found = _pools[store.dsn] = ConnectionPool(
                store.dsn,
                min_size=1,
                max_size=8,
                open=True,
                kwargs=_connect_args(store),
                configure=_configure,
                timeout=10.0,  # waiting for a free connection, or for a database that is down
                name="llmring-receipts",
            )
        return found


def _configure(db: psycopg.Connection[Any]) -> None:
    """Each new connection's staging table (:data:`STAGING`)."""
    db.execute(STAGING)


def close_pools() -> None:
    """Close every pool of this process (the exit hook; tests between databases)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
        _current.clear()
    for each in pools:
        each.close()


def _at_exit() -> None:
    # registered after the writers' own hook, so run before it: flush first, then close
    from llmring._receipts._writer import flush_all

    flush_all()
    close_pools()
