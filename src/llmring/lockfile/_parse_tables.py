"""The lockfile's accounting tables: ``[prices."provider:model"]`` (what a call costs, see
docs/prices.md) and ``[receipts]`` (where each call is recorded, see docs/receipts.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmring.lockfile._model import Price, ReceiptsEntry, parse_model_ref, parse_models
from llmring.lockfile._parse_base import TableParser

__all__ = ["AccountingTables"]

_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")
_RECEIPTS_KEYS = ("url", "content")


class AccountingTables(TableParser):
    """Reads ``[prices]`` and ``[receipts]``."""

    def prices(self, data: Any, providers: frozenset[str]) -> dict[str, Price]:
        if not isinstance(data, dict):
            raise self.fail(
                ("prices",), "prices", 'must be a table of [prices."provider:model"]', "prices"
            )
        return {ref: self.price(ref, table, providers) for ref, table in data.items()}

    def price(self, ref: str, table: Any, providers: frozenset[str]) -> Price:
        where, at = f'[prices."{ref}"]', ("prices", ref)
        try:
            parse_models([ref], providers)
            canonical = str(parse_model_ref(ref))
        except ValueError as exc:
            raise self.fail(at, where, str(exc), f"prices.{ref}") from None
        if canonical != ref:
            raise self.fail(at, where, f"write the key as {canonical!r}", f"prices.{ref}")
        if not isinstance(table, dict):
            raise self.fail(at, where, "must be a table of prices per million tokens", ref)
        self.only_known_keys(at, where, table, _PRICE_KEYS)
        values: dict[str, float] = {}
        for key in _PRICE_KEYS:
            value = table.get(key)
            if value is None:
                if key in ("input", "output"):
                    raise self.fail(
                        at,
                        where,
                        f"{key} is missing: give input and output in US dollars per million "
                        "tokens (0 for a free model)",
                        key,
                    )
                continue
            values[key] = self.check_amount(at, where, key, value, "US dollars per million tokens")
        return Price(**values)

    def receipts(self, table: Any, path: Path | None) -> ReceiptsEntry:
        from llmring._receipts._settings import parse_store_url
        from llmring.exceptions import ConfigurationError

        where, at = "[receipts]", ("receipts",)
        if not isinstance(table, dict):
            raise self.fail(
                at,
                where,
                "must be a table with url = 'sqlite:///...' or 'postgresql://...'",
                "receipts",
            )
        self.only_known_keys(at, where, table, _RECEIPTS_KEYS)
        url = self.optional_str(at, where, table, "url")
        if url is None:
            raise self.fail(
                at, where, "needs url = 'sqlite:///receipts.db' (or 'off')", "receipts.url"
            )
        content = table.get("content", False)
        if not isinstance(content, bool):
            raise self.fail(
                (*at, "content"),
                where,
                f"content must be true or false, got {content!r}",
                "content",
            )
        base = path.parent if path is not None else Path.cwd()
        try:
            store = parse_store_url(url, base, "url")
        except ConfigurationError as exc:
            raise self.fail((*at, "url"), where, exc.message, "url") from None
        if store is not None and store.secrets:
            raise self.fail(
                (*at, "url"),
                where,
                f"{store.shown!r} holds a password, and a lockfile is shared: leave it out and "
                "give it in $PGPASSWORD or ~/.pgpass (libpq reads both), or in "
                "$LLMRING_RECEIPTS / --receipts",
                "url",
            )
        return ReceiptsEntry(url, store, content)
