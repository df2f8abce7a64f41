"""``llmring keys create|list|revoke``: the API keys of ``llmring serve`` (docs/serve.md#keys).

Keys live in the gateway's receipt store, chosen exactly as ``llmring serve`` chooses it
(:func:`llmring._receipts._settings.serve_store`), as hashes only. ``create`` prints the
key once, alone on stdout (``KEY=$(llmring keys create ci)``); nothing else ever shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmring._receipts._store import StoreError
from llmring.cli._common import EXIT_CONFIG, FileOption, JsonOption, cli_command, err, out
from llmring.cli._logs_commands import open_store_at

if TYPE_CHECKING:
    from llmring._receipts._admission import KeyLimits
    from llmring._receipts._settings import StoreURL
    from llmring._receipts._store import ReceiptStore

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="The API keys of llmring serve (kept as hashes in its receipt store).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ReceiptsOption = Annotated[
    str | None,
    typer.Option(
        "--receipts",
        metavar="URL",
        help="The store, as for llmring serve: sqlite:///path.db or postgresql://... (default: "
        "$LLMRING_RECEIPTS, then the lockfile's [receipts], then the CLI's logs.db).",
        show_default=False,
    ),
]


def keys_store(receipts: str | None, file: Path | None) -> StoreURL:
    """The store ``llmring serve --receipts URL --file LOCK`` would use."""
    from llmring._receipts._settings import serve_store
    from llmring.lockfile._store import find_lockfile, read_lockfile

    return serve_store(receipts, read_lockfile(find_lockfile(file)))


@contextmanager
def _store(receipts: str | None, file: Path | None, *, create: bool) -> Iterator[ReceiptStore]:
    """The keys' store, open; a store or key error is one ``error:`` line (exit 1)."""
    import sqlite3

    where = keys_store(receipts, file)
    store = open_store_at(where, create=create)
    try:
        yield store
    except (LookupError, ValueError, StoreError) as exc:
        err(f"error: {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    except sqlite3.Error as exc:
        err(f"error: the receipt store {where}: {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    finally:
        store.close()


RpmOption = Annotated[
    int | None,
    typer.Option("--rpm", metavar="N", help="At most N requests in any 60 s.", show_default=False),
]
TpmOption = Annotated[
    int | None,
    typer.Option(
        "--tpm",
        metavar="N",
        help="At most N tokens in any 60 s (prompt estimate + max_tokens, settled to usage).",
        show_default=False,
    ),
]
BudgetOption = Annotated[
    str | None,
    typer.Option(
        "--budget",
        metavar="USD/PERIOD",
        help="At most this many US dollars per UTC day or month: 25/day, 100/month.",
        show_default=False,
    ),
]
UnpricedOption = Annotated[
    bool,
    typer.Option(
        "--allow-unpriced",
        help="Under --budget, also admit models with no price (they cost the budget nothing).",
    ),
]


def _limits(rpm: int | None, tpm: int | None, budget: str | None, unpriced: bool) -> KeyLimits:
    """The options as limits; a bad value is a usage error naming the option."""
    from llmring._receipts._admission import key_limits

    try:
        return key_limits(rpm, tpm, budget, unpriced)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@keys_app.command("create")
@cli_command
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What the key is for (ci, alice).")],
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    budget: BudgetOption = None,
    allow_unpriced: UnpricedOption = False,
    receipts: ReceiptsOption = None,
    file: FileOption = None,
) -> None:
    """Make an API key. It is printed once, alone on stdout; only its hash is stored.

    \b
      KEY=$(llmring keys create ci)
      KEY=$(llmring keys create alice --rpm 60 --tpm 100000 --budget 25/day)
    """
    from llmring._receipts._keys import check_key_name

    try:
        check_key_name(name)  # before the store is created for nothing
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'NAME'") from None
    limits = _limits(rpm, tpm, budget, allow_unpriced)
    with _store(receipts, file, create=True) as store:
        record, key = store.create_key(name, limits)
    out(key)
    err(
        f"created key {record['id']} ({name}; {limits.describe()}) in {store.path}; this is "
        "the only time it is shown: keep it (only its hash is stored)"
    )


@keys_app.command("limit")
@cli_command
def limit(
    name_or_id: Annotated[
        str, typer.Argument(metavar="NAME_OR_ID", help="The key's name or its id (key_...).")
    ],
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    budget: BudgetOption = None,
    allow_unpriced: UnpricedOption = False,
    receipts: ReceiptsOption = None,
    file: FileOption = None,
) -> None:
    """Set a key's limits to those given (none given: no limits); a running llmring serve
    applies them within a second."""
    limits = _limits(rpm, tpm, budget, allow_unpriced)
    with _store(receipts, file, create=False) as store:
        record = store.set_key_limits(name_or_id.strip(), limits)
    err(f"key {record['id']} ({record['name']}): {limits.describe()}")


@keys_app.command("list")
@cli_command
def list_(
    show_all: Annotated[bool, typer.Option("--all", help="Also the revoked keys.")] = False,
    as_json: JsonOption = False,
    receipts: ReceiptsOption = None,
    file: FileOption = None,
) -> None:
    """List the keys: id, name, the key's first characters, when made (and revoked)."""
    with _store(receipts, file, create=False) as store:
        records = store.list_keys(include_revoked=show_all)
    if as_json:
        out(json.dumps(records, indent=2))
        return
    if not records:
        err(f"no {'' if show_all else 'live '}keys in {store.path}")
    width = max((len(r["name"]) for r in records), default=0)
    for record in records:
        out(_line(record, width))


def _line(record: dict[str, Any], width: int) -> str:
    from llmring._receipts._admission import KeyLimits

    line = (
        f"{record['id']}  {record['name']:<{width}}  {record['prefix']}...  "
        f"created {_when(record['created_at'])}"
    )
    if record["revoked_at"]:
        line += f"  revoked {_when(record['revoked_at'])}"
    limits = KeyLimits(
        record.get("rpm"),
        record.get("tpm"),
        record.get("budget_usd"),
        record.get("budget_period"),
        bool(record.get("allow_unpriced")),
    )
    return line + f"  {limits.describe()}"


def _when(iso: str) -> str:
    return iso[:19].replace("T", " ")


@keys_app.command("revoke")
@cli_command
def revoke(
    name_or_id: Annotated[
        str, typer.Argument(metavar="NAME_OR_ID", help="The key's name or its id (key_...).")
    ],
    receipts: ReceiptsOption = None,
    file: FileOption = None,
) -> None:
    """Revoke a key: a running llmring serve refuses it within a second."""
    with _store(receipts, file, create=False) as store:
        record = store.revoke_key(name_or_id.strip())
    err(f"revoked key {record['id']} ({record['name']}) in {store.path}")
