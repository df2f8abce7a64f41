"""``llmring logs [show|import]`` and ``llmring usage``: the receipts the CLI and the library
wrote, read back (docs/receipts.md).

They read the store the CLI writes to (:func:`cli_store`): ``$LLMRING_RECEIPTS``, else
the lockfile's ``[receipts]``, else ``logs.db`` in the user data dir. Reading never creates
the store: without one, there is simply nothing logged yet.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from llmring._receipts._store import StoreError
from llmring.cli._common import EXIT_CONFIG, FileOption, JsonOption, cli_command, err, out

if TYPE_CHECKING:
    from llmring._receipts._settings import StoreURL
    from llmring._receipts._store import Grouping, ReceiptStore

__all__ = ["cli_store", "logging_off", "logs_app", "open_store", "open_store_at", "usage"]

LOG_ENV = "LLMRING_LOG"
_OFF = ("off", "0", "false", "no")
_SPAN = re.compile(r"^(\d+)\s*([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

logs_app = typer.Typer(
    help="The receipts of past calls (one per stream).",
    invoke_without_command=True,
    rich_markup_mode=None,
)

SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only calls from this long ago (30m, 1h, 2d, 1w) or since this UTC date or time "
        "(2026-12-01, 2026-12-01T09:00).",
        show_default=False,
    ),
]


def logging_off() -> bool:
    """``LLMRING_LOG=off`` (or 0, false, no): the CLI logs nothing."""
    return os.environ.get(LOG_ENV, "").strip().lower() in _OFF


def cli_store(file: Path | None) -> StoreURL:
    """The store the CLI logs to and reads: ``$LLMRING_RECEIPTS``, the lockfile's
    ``[receipts]`` (when it names a store), else ``logs.db`` in the user data dir."""
    from llmring._receipts._settings import env_setting, parse_store_url, user_store
    from llmring.lockfile._store import find_lockfile, read_lockfile

    env = env_setting()
    if env is not None:
        store = parse_store_url(env, Path.cwd(), "$LLMRING_RECEIPTS")
        if store is not None:
            return store
    entry = read_lockfile(find_lockfile(file)).receipts
    if entry is not None and entry.store is not None:
        return entry.store
    return user_store()


def open_store(file: Path | None, *, create: bool = False) -> ReceiptStore:
    """The CLI's store, opened for reading (never created unless ``create``)."""
    return open_store_at(cli_store(file), create=create)


def open_store_at(store: StoreURL, *, create: bool = False) -> ReceiptStore:
    """The store ``store`` names (a SQLite file is never created unless ``create``); one
    error line if it cannot be opened."""
    import sqlite3

    from llmring._receipts._settings import open_receipt_store

    try:
        return open_receipt_store(store, create=create)
    except StoreError as exc:  # it names the store (without a password) and says why
        err(f"error: {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    except (sqlite3.Error, OSError) as exc:
        err(f"error: cannot open the receipt store {store}: {exc}")
        raise typer.Exit(EXIT_CONFIG) from None


def parse_since(text: str | None) -> str | None:
    """``--since`` as the ISO UTC time receipts are compared with."""
    from llmring._receipts._receipt import iso

    if text is None:
        return None
    text = text.strip()
    span = _SPAN.match(text)
    if span:
        return iso(datetime.now(UTC) - timedelta(seconds=int(span[1]) * _SECONDS[span[2]]))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a span (30m, 1h, 2d, 1w) nor a date (2026-12-01)",
            param_hint="'--since'",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return iso(when.astimezone(UTC))


# -- llmring logs ---------------------------------------------------------------------------------


@logs_app.callback()
@cli_command
def logs(
    ctx: typer.Context,
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, help="How many, newest first.")
    ] = 20,
    alias: Annotated[
        str | None, typer.Option("--alias", help="Only calls of this alias.", show_default=False)
    ] = None,
    since: SinceOption = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only calls with this status: ok, error, interrupted, cancelled, deadline, "
            "rejected.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    file: FileOption = None,
) -> None:
    """List the receipts of past calls, newest first (see docs/receipts.md).

    \b
      llmring logs -n 5
      llmring logs --alias chatbot --since 1h --status error
      llmring logs show 01938a5c
    """
    if ctx.invoked_subcommand is not None:
        return
    from llmring._receipts._receipt import ReceiptStatus
    from llmring._receipts._store import ReceiptFilter

    statuses = get_args(ReceiptStatus)
    if status is not None and status not in statuses:
        raise typer.BadParameter(
            f"{status!r} is not a status (one of: {', '.join(statuses)})", param_hint="'--status'"
        )
    store = open_store(file)
    try:
        rows = store.query(ReceiptFilter(alias, status, parse_since(since)), count)
    finally:
        store.close()
    if as_json:
        out(json.dumps([_decoded(row) for row in rows], indent=2))
        return
    if not rows:
        err(f"no receipts in {store.path}")
    for row in rows:
        out(_line(row))


def _line(row: dict[str, Any]) -> str:
    answered = f"{row['provider']}:{row['model']}" if row["provider"] else "-"
    tokens = (
        f"in={row['prompt_tokens']} out={row['completion_tokens']}"
        + ("~" if row["usage_source"] == "estimated" else "")
        if row["usage_source"]
        else "no usage"
    )
    key = f"  {row['key_id']}" if row.get("key_id") else ""
    return (
        f"{row['id']}  {row['started_at'][:19].replace('T', ' ')}  {row['alias']} -> "
        f"{answered}  {row['status']}  {tokens}  {_cost(row)}  {_seconds(row['duration'])}{key}"
    )


def _cost(row: dict[str, Any]) -> str:
    if row["cost_status"] == "priced":
        return f"${row['cost_usd']:.6f}"
    return str(row["cost_status"]).replace("_", " ")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its JSON columns as JSON values."""
    decoded = dict(row)
    for column in ("candidates", "attempts", "usage", "prompt", "tool_calls"):
        if decoded.get(column) is not None:
            decoded[column] = json.loads(decoded[column])
    return decoded


@logs_app.command("show")
@cli_command
def show(
    receipt_id: Annotated[
        str, typer.Argument(metavar="ID", help="A receipt id, or the start of one.")
    ],
    as_json: JsonOption = False,
    file: FileOption = None,
) -> None:
    """Show one receipt in full."""
    store = open_store(file)
    try:
        row = store.get(receipt_id.strip())
    except LookupError as exc:
        raise typer.BadParameter(f"{exc}; give more of it", param_hint="'ID'") from None
    finally:
        store.close()
    if row is None:
        err(f"error: no receipt {receipt_id!r} in {store.path}")
        raise typer.Exit(EXIT_CONFIG)
    decoded = _decoded(row)
    if as_json:
        out(json.dumps(decoded, indent=2))
        return
    for key, value in decoded.items():
        if value is None:
            continue
        shown = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        out(f"{key}: {shown}")


@logs_app.command("import")
@cli_command
def import_(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="A spill file (<store>.spill.jsonl).")
    ],
    file: FileOption = None,
) -> None:
    """Store the receipts of a spill file (written when the store could not take them).
    Receipts already stored are skipped, so importing twice is harmless."""
    rows = _read_spill(path)
    store = open_store(file, create=True)
    try:
        added = store.write(rows) if rows else 0
    finally:
        store.close()
    err(f"imported {added} receipt(s) into {store.path} ({len(rows) - added} already there)")


def _read_spill(path: Path) -> list[dict[str, Any]]:
    from llmring._receipts._spill import spilled_row

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}", param_hint="'FILE'") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row = spilled_row(line)
        if row is None:
            raise typer.BadParameter(
                f"{path}:{number}: not a receipt (a JSON object with id, started_at, status)",
                param_hint="'FILE'",
            )
        rows.append(row)
    return rows


# -- llmring usage --------------------------------------------------------------------------------


@cli_command
def usage(
    by: Annotated[
        str,
        typer.Option("--by", help="Group by alias, model, provider, day or key (llmring serve)."),
    ] = "alias",
    since: SinceOption = None,
    as_json: JsonOption = False,
    file: FileOption = None,
) -> None:
    """Calls, tokens and cost of past calls, grouped. Unpriced calls are counted apart (their
    cost is unknown, never 0); estimated token counts are marked."""
    from llmring._receipts._store import GROUPINGS, ReceiptFilter

    if by not in GROUPINGS:
        raise typer.BadParameter(
            f"{by!r} is not a grouping (one of: {', '.join(GROUPINGS)})", param_hint="'--by'"
        )
    grouping: Grouping = by
    store = open_store(file)
    try:
        totals = store.totals(grouping, ReceiptFilter(since=parse_since(since)))
    finally:
        store.close()
    if as_json:
        out(json.dumps(totals, indent=2))
        return
    if not totals:
        err(f"no receipts in {store.path}")
        return
    for row in totals:
        cost = f"${row['cost_usd']:.6f}" if row["cost_usd"] is not None else "no priced calls"
        apart = [
            f"{row[name]} {label}"
            for name, label in (
                ("unpriced_calls", "unpriced"),
                ("no_usage_calls", "without usage"),
                ("estimated_calls", "estimated"),
                ("failed_calls", "not ok"),
            )
            if row[name]
        ]
        out(
            f"{row['key'] or '-'}  calls={row['calls']}  in={row['prompt_tokens']} "
            f"out={row['completion_tokens']}  cost={cost}"
            + (f"  ({', '.join(apart)})" if apart else "")
        )
