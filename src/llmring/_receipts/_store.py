"""Where receipts (and the gateway's API keys) go: the one small interface every store
implements.

SQLite (:mod:`llmring._receipts._sqlite`) is the embedded default; PostgreSQL
(:mod:`llmring._receipts._postgres`), shared by gateways on several hosts, implements the same
methods with the same results. :func:`llmring._receipts._settings.open_receipt_store` opens
either from its URL. Rows are plain dicts of the columns in
:data:`llmring._receipts._receipt.COLUMNS`. A store is used from one thread at a time: the
writer thread writes, a reader (the CLI) opens its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from llmring._receipts._admission import KeyLimits

__all__ = ["GROUPINGS", "Grouping", "ReceiptFilter", "ReceiptStore", "StoreError"]

#: how ``llmring usage`` groups its totals (``key``: the gateway key id, docs/serve.md#keys)
Grouping = Literal["alias", "model", "provider", "day", "key"]
GROUPINGS: tuple[Grouping, ...] = ("alias", "model", "provider", "day", "key")


@dataclass(frozen=True)
class ReceiptFilter:
    """Which receipts a query returns; every field narrows (``None``: any)."""

    alias: str | None = None
    status: str | None = None
    #: ISO UTC time (``2026-12-01T00:00:00.000000Z``): receipts that started at or after it
    since: str | None = None
    conversation_id: str | None = None


class ReceiptStore(Protocol):
    """Writes batches of receipt rows and answers the CLI's questions about them."""

    @property
    def path(self) -> object:
        """How messages name the store: the SQLite file, or the database's URL without its
        password."""
        ...

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store ``rows`` in one transaction; a row whose id is already stored is skipped (so
        replaying a spill file twice stores each receipt once). Returns how many were new."""
        ...

    def query(self, where: ReceiptFilter, limit: int | None = None) -> list[dict[str, Any]]:
        """The newest receipts first, at most ``limit``."""
        ...

    def get(self, receipt_id: str) -> dict[str, Any] | None:
        """The receipt with this id, or with this unique id prefix; ``None`` if there is none.
        An ambiguous prefix raises ``LookupError`` naming how many receipts match."""
        ...

    def totals(self, by: Grouping, where: ReceiptFilter) -> list[dict[str, Any]]:
        """Calls, tokens and cost per group; unpriced calls are counted apart, never as 0."""
        ...

    def last_conversation(self) -> str | None:
        """The conversation id of the newest receipt that has one."""
        ...

    # -- the gateway's API keys (llmring._receipts._keys; docs/serve.md#keys) --------------------
    # A key record is ``{id, name, prefix, created_at, revoked_at}`` and its limits ``{rpm,
    # tpm, budget_usd, budget_period, allow_unpriced}`` (schema version 3; ``None``: no such
    # limit): never the key, never its hash. Only the SHA-256 of a key is stored.

    def create_key(self, name: str, limits: KeyLimits | None = None) -> tuple[dict[str, Any], str]:
        """Make a key named ``name`` with ``limits`` (default none): its record, and the key
        text (shown once, stored nowhere). ``ValueError`` when the name is not allowed or a
        live key has it."""
        ...

    def list_keys(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        """The key records, oldest first; revoked ones only with ``include_revoked``."""
        ...

    def revoke_key(self, name_or_id: str) -> dict[str, Any]:
        """Revoke the live key with this name, or the key with this id (or this key text);
        its record. ``LookupError`` naming it when there is no such live key."""
        ...

    def active_keys(self) -> dict[str, str]:
        """SHA-256 hex of each live key → its id: what the gateway checks requests against."""
        ...

    # -- limits (issue 15; llmring._receipts._admission) -----------------------------------------

    def set_key_limits(self, name_or_id: str, limits: KeyLimits) -> dict[str, Any]:
        """Replace the limits of the live key with this name or id; its record. ``LookupError``
        naming it when there is no such live key."""
        ...

    def key_limits(self) -> dict[str, KeyLimits]:
        """Key id → limits, for each live key that has any (a key absent here has none)."""
        ...

    def close(self) -> None: ...


class StoreError(OSError):
    """A shared store (PostgreSQL) could not be reached, or failed a statement. The message
    names the store without its password; the driver's own exception is never chained as it
    is (its text is scrubbed the same way). An ``OSError``, like a SQLite file that cannot be
    opened: the writer spills on it and the CLI prints it as one line."""
