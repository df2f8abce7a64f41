"""``llmring models`` (the prices llmring knows) and ``llmring lock verify`` (the CI check)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmring.cli._common import EXIT_CONFIG, FileOption, JsonOption, cli_command, err, out

if TYPE_CHECKING:
    from llmring.lockfile._model import Lockfile
    from llmring.prices import Prices

# llmring.prices and the lockfile machinery are imported inside the commands, so that
# ``llmring --help`` starts fast; genai-prices only when the table is listed or checked.

_COLUMNS = ("input", "output", "cache_read", "cache_write")


@cli_command
def models(
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            "-P",
            help="Only this provider: a lockfile or built-in name, or a price-table id.",
        ),
    ] = None,
    file: FileOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the models with a price (US dollars per million tokens): the lockfile's [prices],
    then the genai-prices table, which says which of its models the lockfile overrides."""
    from llmring.prices import installed, table_missing

    lockfile, prices = _load(file)
    rows = _lockfile_rows(lockfile, provider)
    if installed():
        rows += _table_rows(prices, lockfile, provider)
    else:
        err(f"note: only the lockfile's prices are listed: {table_missing()}")
    if as_json:
        out(json.dumps(rows, indent=2))
        return
    if not rows:
        err(f"no priced models{f' for provider {provider!r}' if provider else ''}")
        return
    _print_table(rows)


def _load(file: Any) -> tuple[Lockfile, Prices]:
    from llmring._configs import provider_configs
    from llmring.lockfile._store import find_lockfile, read_lockfile
    from llmring.prices import Prices

    lockfile = read_lockfile(find_lockfile(file))
    return lockfile, Prices(lockfile, provider_configs(lockfile.providers))


def _lockfile_rows(lockfile: Lockfile, provider: str | None) -> list[dict[str, Any]]:
    rows = []
    for ref, price in lockfile.prices.items():
        if provider is None or ref.partition(":")[0] == provider:
            row = {"model": ref, "source": "lockfile", **asdict(price)}
            for cache in ("cache_read", "cache_write"):  # unset: billed as input
                row[cache] = price.input if row[cache] is None else row[cache]
            rows.append(row)
    return rows


def _table_rows(prices: Prices, lockfile: Lockfile, provider: str | None) -> list[dict[str, Any]]:
    """The table's models; ``provider`` is an llmring provider name (listed as the table
    provider its endpoint bills as) or a table id. ``overridden_by`` names the lockfile's
    ``[prices]`` keys that replace the row for a provider billed as it."""
    from llmring.prices import table_models
    from llmring.prices._table import in_table

    overrides: dict[tuple[str, str | None], list[str]] = {}
    for ref in lockfile.prices:
        name, _, model_name = ref.partition(":")
        billed_as = prices.route(name)
        if billed_as is not None:
            overrides.setdefault((billed_as, in_table(billed_as, model_name)), []).append(ref)
    table_id = provider
    if provider is not None and provider in prices.providers:
        table_id = prices.route(provider)
        if table_id is None:
            return []
    rows = []
    for model in table_models(table_id, datetime.now(UTC)):
        row: dict[str, Any] = {"model": f"{model.provider}:{model.model}", "source": "genai-prices"}
        row.update({column: getattr(model, column) for column in _COLUMNS})
        row["tiers"] = [{"above": start, "input": price} for start, price in model.tiers]
        row["overridden_by"] = overrides.get((model.provider, model.model), [])
        rows.append(row)
    return rows


def _print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(row["model"]) for row in rows)
    out(f"{'model'.ljust(width)}  {'  '.join(c.rjust(11) for c in _COLUMNS)}  source")
    for row in rows:
        cells = "  ".join(_money(row[c]).rjust(11) for c in _COLUMNS)
        notes = row["source"]
        if row.get("tiers"):
            notes += " (long-context tiers)"
        if row.get("overridden_by"):
            notes += f"; overridden by {', '.join(row['overridden_by'])}"
        out(f"{row['model'].ljust(width)}  {cells}  {notes}")
    err("US dollars per million tokens; '-' where the model has no such price")


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@cli_command
def lock_verify(file: FileOption = None, as_json: JsonOption = False) -> None:
    """Check the project's lockfile offline, for CI: it loads, every alias resolves, it holds
    no key material, and every bound model is priced or its binding says unpriced_ok = true.
    Prints the lockfile's digest. Exit 0 when all is well, 1 when not."""
    from llmring.lockfile._store import find_project_lockfile
    from llmring.prices._check import lockfile_problems

    path = find_project_lockfile(file)
    lockfile, prices = _load(path)
    text = path.read_text(encoding="utf-8")
    problems = lockfile_problems(lockfile, text, prices)
    if as_json:
        out(json.dumps({"lockfile": str(path), "digest": lockfile.digest, "problems": problems}))
    else:
        out(lockfile.digest)
    for problem in problems:
        err(f"error: {path}: {problem}")
    if problems:
        raise typer.Exit(EXIT_CONFIG)
    aliases = sum(len(p.bindings) for p in lockfile.profiles.values())
    err(f"ok: {path}: {aliases} binding(s) verified")
