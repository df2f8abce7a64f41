"""What a call cost: the one interface between a stream and a price table.

A stream asks its ring's :class:`Pricer` once, when it ends (whatever the outcome), for the
:class:`Cost` of the usage it saw. The terminal chunk's ``usage["cost"]``, ``LLMResponse``
and the call's receipt all come from that one answer, so they cannot disagree.

An unpriced model is never a silent 0: its cost is ``None`` with status ``"unpriced"``, and a
call whose usage was never reported has status ``"no_usage"``.

A ring's pricer is :class:`llmring.prices.Prices` (the lockfile's ``[prices]``, then
``genai-prices``' table); ``NO_PRICES`` prices nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from llmring.schemas import Usage

__all__ = ["NO_PRICES", "Cost", "CostStatus", "NoPrices", "Pricer"]

#: ``priced``: ``usd`` is set; ``unpriced``: the model has no price; ``no_usage``: nothing
#: to price (the provider reported no usage)
CostStatus = Literal["priced", "unpriced", "no_usage"]


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one call, and where its price came from."""

    usd: float | None
    status: CostStatus
    #: where the price came from: ``"genai-prices"``, ``"lockfile"``; ``None`` when unpriced
    source: str | None = None
    #: the price data's version (the ``genai-prices`` package version, or the lockfile digest)
    version: str | None = None


class Pricer(Protocol):
    """Prices normalised usage. Must not raise and must not block: it runs at stream end, and
    for the receipt in the receipt writer's thread (so it must also be safe to call from any
    thread: a lookup in read-only data)."""

    def cost(
        self,
        provider_type: str,
        provider: str,
        model: str,
        usage: Usage | None,
        when: datetime,
        *,
        reported_model: str | None = None,
    ) -> Cost:
        """The cost of ``usage`` for ``provider:model`` (``provider_type`` is its adapter type,
        e.g. ``"openai"`` for an OpenAI-compatible endpoint) at the request time ``when``.
        ``reported_model`` is the model the provider says answered (a dated snapshot of
        ``model``, say), when it said so."""
        ...


class NoPrices:
    """The pricer of a ring without a price table: every call is unpriced (or has no usage)."""

    def cost(
        self,
        provider_type: str,
        provider: str,
        model: str,
        usage: Usage | None,
        when: datetime,
        *,
        reported_model: str | None = None,
    ) -> Cost:
        return Cost(None, "unpriced" if usage else "no_usage")


NO_PRICES = NoPrices()
