"""What the SQLite and PostgreSQL receipt stores share: the ``api_keys`` rows as both keep them
(their fields, a new key's record, its limits, how ``keys revoke`` finds one), the groupings of
``llmring logs --by`` and a filter's ``WHERE`` clause, written once with the driver's
parameter placeholder (``mark``: SQLite's ``?``, psycopg's ``%s``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from llmring._receipts._admission import KeyLimits
from llmring._receipts._keys import ID_PREFIX, KEY_PREFIX, check_key_name, key_hash, new_key
from llmring._receipts._keys import PREFIX_CHARS as KEY_PREFIX_CHARS
from llmring._receipts._receipt import iso
from llmring._receipts._store import Grouping, ReceiptFilter

__all__ = [
    "GROUP_KEYS",
    "KEY_FIELDS",
    "LIMIT_FIELDS",
    "LIVE_LIMITED_KEYS",
    "key_record",
    "limit_values",
    "limits_of",
    "new_key_record",
    "revoked_key",
    "where_clause",
]

LIMIT_FIELDS = ("rpm", "tpm", "budget_usd", "budget_period", "allow_unpriced")
# never the hash
KEY_FIELDS = f"id, name, prefix, created_at, revoked_at, {', '.join(LIMIT_FIELDS)}"

GROUP_KEYS: dict[Grouping, str] = {
    "alias": "alias",
    "model": "provider || ':' || model",
    "provider": "provider",
    "day": "substr(started_at, 1, 10)",
    "key": "key_id",
}
#: the live keys that have a limit, with their limits (no parameters: any driver)
LIVE_LIMITED_KEYS = (
    f"SELECT id, {', '.join(LIMIT_FIELDS)} FROM api_keys WHERE revoked_at IS NULL "
    "AND (rpm IS NOT NULL OR tpm IS NOT NULL OR budget_usd IS NOT NULL)"
)


def revoked_key(name_or_id: str, mark: str) -> tuple[str, str, str]:
    """How ``keys revoke`` finds its key: the condition (``mark``: the driver's placeholder),
    its value, and how the error names it. The key text itself is found by its hash and never
    repeated."""
    if name_or_id.startswith(KEY_PREFIX):
        return f"hash = {mark}", key_hash(name_or_id), "matching the key given"
    if name_or_id.startswith(ID_PREFIX):
        return f"id = {mark}", name_or_id, f"with id {name_or_id!r}"
    return f"name = {mark} AND revoked_at IS NULL", name_or_id, f"named {name_or_id!r}"


def new_key_record(name: str, limits: KeyLimits | None) -> tuple[dict[str, Any], str]:
    """A new key named ``name`` (checked): its record, as both stores keep it, and its text."""
    check_key_name(name)
    key_id, key = new_key()
    record = {
        "id": key_id,
        "name": name,
        "prefix": key[:KEY_PREFIX_CHARS],
        "created_at": iso(datetime.now(UTC)),
        "revoked_at": None,
        **limit_values(limits or KeyLimits()),
    }
    return record, key


def limit_values(limits: KeyLimits) -> dict[str, Any]:
    return {
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "budget_usd": limits.budget_usd,
        "budget_period": limits.budget_period,
        "allow_unpriced": limits.allow_unpriced,
    }


def limits_of(row: Mapping[str, Any]) -> KeyLimits:
    period = row["budget_period"]
    return KeyLimits(
        row["rpm"],
        row["tpm"],
        row["budget_usd"],
        "month" if period == "month" else "day" if period == "day" else None,
        bool(row["allow_unpriced"]),
    )


def key_record(row: Mapping[str, Any]) -> dict[str, Any]:
    record = dict(row)
    record["allow_unpriced"] = bool(record["allow_unpriced"])
    return record


def where_clause(where: ReceiptFilter, mark: str = "?") -> tuple[str, list[Any]]:
    """The ``WHERE`` clause of a filter, with ``mark`` as the parameter placeholder (SQLite's
    ``?``, psycopg's ``%s``)."""
    conditions, params = [], []
    for column, value in (
        ("alias", where.alias),
        ("status", where.status),
        ("conversation_id", where.conversation_id),
    ):
        if value is not None:
            conditions.append(f"{column} = {mark}")
            params.append(value)
    if where.since is not None:
        conditions.append(f"started_at >= {mark}")
        params.append(where.since)
    clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return clause, params
