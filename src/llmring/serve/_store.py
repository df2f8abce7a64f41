"""Which receipt store a gateway uses: chosen once at start-up, as ``llmring keys`` chooses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmring.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmring._receipts._settings import StoreURL
    from llmring.serve._settings import ServeSettings

__all__ = ["open_store", "store_health", "store_url"]


def store_url(settings: ServeSettings) -> StoreURL | None:
    """The gateway's store, a SQLite path made absolute (``None``: receipts off, allowed only
    with ``--no-auth``, since keys live in the store; ``serve_store`` says why otherwise).
    Blocking: reads the lockfile."""
    from llmring._receipts._settings import OFF, StoreURL, env_setting, serve_store
    from llmring.lockfile._store import find_lockfile, read_lockfile

    chosen = settings.receipts if settings.receipts is not None else env_setting()
    if settings.no_auth and chosen is not None and chosen.strip().lower() == OFF:
        return None
    lockfile = read_lockfile(find_lockfile(settings.lockfile))
    entry = lockfile.receipts
    if settings.no_auth and chosen is None and entry is not None and entry.store is None:
        return None  # the lockfile says off
    store = serve_store(settings.receipts, lockfile)
    return StoreURL.sqlite(store.path.absolute()) if store.path is not None else store


def open_store(store: StoreURL) -> None:
    """Create or migrate a SQLite store now, or check that a PostgreSQL one is reachable and
    migrated (``llmring store migrate``), so a store that cannot be used stops the gateway at
    start-up with the reason rather than spilling every receipt. Blocking."""
    import sqlite3

    from llmring._receipts._settings import open_receipt_store
    from llmring._receipts._store import StoreError

    try:
        open_receipt_store(store).close()
    except StoreError as exc:
        raise ConfigurationError(str(exc)) from None
    except (sqlite3.Error, OSError) as exc:
        raise ConfigurationError(
            f"the receipt store {store} cannot be opened ({exc}); give --receipts "
            "sqlite:///a/writable/path.db"
        ) from None


def store_health(store: StoreURL | None) -> dict[str, Any]:
    """What ``/readyz`` says of the store: its kind and schema version, or why it cannot be
    read (never a password)."""
    if store is None:
        return {"ok": True, "kind": None}
    if store.kind == "postgresql":
        return _postgres_health(store)
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, timeout=2)
        try:
            version = db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return {"ok": False, "kind": "sqlite", "error": str(exc)}
    return {"ok": True, "kind": "sqlite", "schema_version": version}


def _postgres_health(store: StoreURL) -> dict[str, Any]:
    from llmring._receipts._postgres import PostgresStore, check_version
    from llmring._receipts._store import StoreError

    try:
        opened = PostgresStore(store)
        try:
            version = opened.schema_version()
        finally:
            opened.close()
        check_version(store, version)  # migrated past this llmring while it runs
    except (StoreError, ConfigurationError) as exc:
        return {"ok": False, "kind": "postgresql", "error": str(exc)}
    return {"ok": True, "kind": "postgresql", "schema_version": version}
