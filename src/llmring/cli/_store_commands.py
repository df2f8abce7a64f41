"""``llmring store migrate``: bring a receipt store's schema to this llmring's version.

A SQLite file migrates itself whenever it is opened for writing; a PostgreSQL database is
shared by gateways on several hosts, so it is migrated on purpose, by this command, and each
gateway only checks the version at start (docs/receipts.md#postgresql). Migrating holds an
advisory lock: two hosts running it at once take turns, and the second finds nothing to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from llmring.cli._common import EXIT_CONFIG, FileOption, cli_command, err
from llmring.cli._keys_commands import ReceiptsOption, keys_store

if TYPE_CHECKING:
    from llmring._receipts._settings import StoreURL

__all__ = ["store_app"]

store_app = typer.Typer(
    help="The receipt store (receipts and the API keys of llmring serve).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@store_app.command("migrate")
@cli_command
def migrate(receipts: ReceiptsOption = None, file: FileOption = None) -> None:
    """Create or upgrade the store's tables (the store llmring serve would use).

    \b
      llmring store migrate --receipts postgresql://llmring@db.internal/llmring
    """
    store = keys_store(receipts, file)
    before, after = _migrate(store)
    if before == after:
        err(f"the receipt store {store} is at schema version {after}: nothing to do")
    else:
        err(f"migrated the receipt store {store} from schema version {before} to {after}")


def _migrate(store: StoreURL) -> tuple[int, int]:
    if store.kind == "postgresql":
        from llmring._receipts._postgres import migrate as migrate_postgres

        return migrate_postgres(store)
    import sqlite3

    from llmring._receipts._sqlite import SCHEMA_VERSION, SQLiteStore

    assert store.path is not None
    before = _sqlite_version(store)
    try:
        SQLiteStore(store.path).close()  # opening it for writing migrates it
    except (sqlite3.Error, OSError) as exc:
        err(f"error: cannot open the receipt store {store}: {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    return before, SCHEMA_VERSION


def _sqlite_version(store: StoreURL) -> int:
    import sqlite3

    if store.path is None or not store.path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, timeout=10)
        try:
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0  # no schema_version yet (or not a database: opening it says so)
    return int(row[0] or 0)
