"""The database side of the PostgreSQL store: its schema versions and the driver's errors made
safe to show.

* **Schema.** Versioned like SQLite's (:data:`MIGRATIONS`, table ``schema_version``), but
  never migrated on open: several hosts share the database, so ``llmring store migrate``
  applies the migrations (:func:`migrate`, under an advisory lock) and every store checks,
  the first time it opens a database in a process, that it is at :data:`SCHEMA_VERSION`,
  refusing one behind or ahead.
* **Connections** (:mod:`llmring._receipts._postgres_pool`): one pool per database and
  process, and what happens while the database is down.
* **Secrets.** The URL may hold a password. Errors name the store without it, and the driver's
  exceptions are chained only as scrubbed stand-ins (:func:`llmring._chain.raise_from`).

psycopg is imported only inside functions: only a ``postgresql://`` URL needs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llmring._receipts._postgres_admission_sql import SCHEMA_3, SCHEMA_4
from llmring._receipts._receipt import COLUMNS
from llmring._receipts._sqlite import _ADDED, _INTEGER, _REAL
from llmring._receipts._sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from llmring._receipts._store import StoreError
from llmring.exceptions import ConfigurationError

if TYPE_CHECKING:
    import psycopg

    from llmring._receipts._settings import StoreURL

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STAGING",
    "check_version",
    "failures",
    "migrate",
    "require_driver",
    "schema_version",
    "scrub",
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
    # the admission functions' second form (faster commits): _postgres_admission_sql
    (4, SCHEMA_4),
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
    from llmring._receipts._postgres_pool import direct_connection, forget_version

    require_driver()
    with failures(store, "migrating"), direct_connection(store) as db, db.transaction():
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
    forget_version(store)
    return before, max(before, SCHEMA_VERSION)


# -- the driver -----------------------------------------------------------------------------


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
