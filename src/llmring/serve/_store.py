"""Which receipt store a gateway uses: chosen once at start-up, as ``llmring keys`` chooses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmring.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmring.serve._settings import ServeSettings

__all__ = ["open_store", "store_health", "store_url"]


def store_url(settings: ServeSettings) -> str | None:
    """The absolute path of the SQLite store (``None``: receipts off, allowed only with
    ``--no-auth``, since keys live in the store; ``serve_store_path`` says why otherwise).
    Blocking: reads the lockfile."""
    from llmring._receipts._settings import OFF, env_setting, serve_store_path
    from llmring.lockfile._store import find_lockfile, read_lockfile

    chosen = settings.receipts if settings.receipts is not None else env_setting()
    if settings.no_auth and chosen is not None and chosen.strip().lower() == OFF:
        return None
    lockfile = read_lockfile(find_lockfile(settings.lockfile))
    entry = lockfile.receipts
    if settings.no_auth and chosen is None and entry is not None and entry.path is None:
        return None  # the lockfile says off
    return str(serve_store_path(settings.receipts, lockfile).absolute())


def open_store(path: str) -> None:
    """Create or migrate the store now, so a store that cannot be written stops the gateway at
    start-up (with the reason) rather than spilling every receipt. Blocking."""
    import sqlite3
    from pathlib import Path

    from llmring._receipts._sqlite import SQLiteStore

    try:
        SQLiteStore(Path(path)).close()
    except (sqlite3.Error, OSError) as exc:
        raise ConfigurationError(
            f"the receipt store {path} cannot be opened ({exc}); give --receipts "
            "sqlite:///a/writable/path.db"
        ) from None


def store_health(path: str | None) -> dict[str, Any]:
    """What ``/readyz`` says of the store: opened read-only, its schema version, or why not."""
    if path is None:
        return {"ok": True, "kind": None}
    import sqlite3

    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            version = db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return {"ok": False, "kind": "sqlite", "error": str(exc)}
    return {"ok": True, "kind": "sqlite", "schema_version": version}
