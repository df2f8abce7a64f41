"""Admission: a gateway key's rate limits and budget, checked before any upstream call.

A key may carry (``llmring keys create NAME --rpm N --tpm N --budget 25/day``):

* **rpm**: at most N requests admitted in *any* 60-second window;
* **tpm**: at most N tokens in any 60-second window, counted as reserved at admission (the
  prompt's estimate plus ``max_tokens``) and corrected to the real usage when the stream ends;
* **budget**: at most N US dollars per UTC calendar day (``/day``) or month (``/month``). At
  admission the request's worst case (the prompt's estimate and ``max_tokens`` at the price of
  the dearest candidate of the alias) is reserved; when the stream ends, whatever its outcome,
  the reservation is replaced by what it really cost. A request whose worst case does not fit
  in what is left of the period is refused. A call is charged to the period it was admitted in.
  An unpriced model under a budget is refused unless the key allows unpriced models; then it
  costs the budget nothing (its cost is unknown, never guessed as 0 elsewhere).

Why a sliding-window log rather than a token bucket: a bucket of capacity N refilled at N per
minute lets a full bucket's N requests through and then N more as it refills within the same
minute, up to 2N in 60 s. The log keeps the admission time (and reserved tokens) of every
request of the last 60 s and admits one more only if the window ending now holds fewer than
N, so no 60-second window, wherever it starts, ever holds more than N. The cost is one row
per admitted request, kept 60 s; the refusal says exactly when a slot frees (the oldest
request that must leave the window, plus 60 s): that is ``Retry-After``.

The decisions are pure functions of the window's rows (:func:`rate_refusal`,
:func:`budget_refusal`), so the arithmetic is tested with a fake clock; a store runs them inside
one transaction (:class:`Admission`): SQLite with ``BEGIN IMMEDIATE`` for the workers of one
host (:mod:`llmring._receipts._sqlite_admission`), and PostgreSQL, one function call per check,
for many hosts (:mod:`llmring._receipts._postgres_admission`).

Times are wall-clock seconds (``time.time()``): every worker of a host, and every host with a
synchronised clock, reads the same one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "WINDOW",
    "Admission",
    "Ask",
    "Grant",
    "KeyLimits",
    "Period",
    "Refusal",
    "budget_refusal",
    "key_limits",
    "parse_budget",
    "period_end",
    "period_of",
    "rate_refusal",
    "retry_after_header",
]

#: seconds of the rate limits' sliding window
WINDOW = 60.0
#: the ``max_tokens`` the gateway sets on a request that sent none, for a key with a tpm limit
#: or a budget: a reservation must bound what the call can use
DEFAULT_MAX_TOKENS = 4096

Period = Literal["day", "month"]
_PERIODS: tuple[Period, ...] = ("day", "month")
_BUDGET = re.compile(r"\$?(\d+(?:\.\d+)?)/(\w+)")


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What one key may do; ``None``: no such limit."""

    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    budget_period: Period | None = None
    #: under a budget, admit models the price table cannot price (they cost it nothing)
    allow_unpriced: bool = False

    @property
    def limited(self) -> bool:
        """Whether admission has anything to check (a key without limits pays nothing)."""
        return self.rpm is not None or self.tpm is not None or self.budget_usd is not None

    @property
    def reserves_tokens(self) -> bool:
        """Whether a request needs a ``max_tokens`` bound (tpm and budgets reserve with it)."""
        return self.tpm is not None or self.budget_usd is not None

    def describe(self) -> str:
        """``rpm 100, tpm 20000, budget $25/day (unpriced allowed)``; ``no limits``."""
        parts = [f"{name} {value}" for name, value in (("rpm", self.rpm), ("tpm", self.tpm))]
        parts = [part for part in parts if not part.endswith(" None")]
        if self.budget_usd is not None:
            allowed = " (unpriced allowed)" if self.allow_unpriced else ""
            parts.append(f"budget ${self.budget_usd:g}/{self.budget_period}{allowed}")
        return ", ".join(parts) or "no limits"


def parse_budget(text: str) -> tuple[float, Period]:
    """``25/day``, ``$100/month`` → ``(25.0, "day")``; ``ValueError`` saying what is accepted."""
    found = _BUDGET.fullmatch(text.strip())
    if found is None or found.group(2) not in _PERIODS or float(found.group(1)) <= 0:
        raise ValueError(
            f"--budget {text!r} is not a budget: give US dollars per day or per month, "
            "e.g. 25/day or 100/month (a UTC calendar day or month)"
        )
    period: Period = "day" if found.group(2) == "day" else "month"
    return float(found.group(1)), period


def key_limits(
    rpm: int | None = None,
    tpm: int | None = None,
    budget: str | None = None,
    allow_unpriced: bool = False,
) -> KeyLimits:
    """The limits of ``keys create``'s options; ``ValueError`` naming the option at fault."""
    for name, value in (("--rpm", rpm), ("--tpm", tpm)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be a whole number of at least 1, not {value}")
    if allow_unpriced and budget is None:
        raise ValueError("--allow-unpriced applies to a budget: give --budget too")
    usd, period = parse_budget(budget) if budget is not None else (None, None)
    return KeyLimits(rpm, tpm, usd, period, allow_unpriced)


# -- one request --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ask:
    """What one request asks of its key's limits."""

    key_id: str
    limits: KeyLimits
    #: tokens reserved for the tpm window: the prompt's estimate plus ``max_tokens``
    tokens: int = 0
    #: the worst-case cost in USD; ``None`` when a candidate is unpriced (under a budget, only
    #: admitted with ``allow_unpriced``, and then reserving nothing)
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    """An admitted request: what it reserved, until :meth:`Admission.settle`."""

    id: str
    key_id: str
    at: float
    tokens: int
    #: the budget period charged (``2026-12-03``, ``2026-12``), ``None`` without a budget
    period: str | None
    reserved_usd: float | None

    @property
    def settles(self) -> bool:
        """Whether the end of the stream must be told to the store (tpm or budget)."""
        return self.tokens > 0 or self.period is not None


RefusalReason = Literal["rpm", "tpm", "budget", "unpriced"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the key's limits do not admit, and why."""

    reason: RefusalReason
    message: str
    #: seconds until it could be admitted; ``None``: waiting does not help (this period)
    retry_after: float | None = None


class Admission(Protocol):
    """Admits requests against their key's limits, in a store every worker shares.

    ``admit`` decides and reserves in one transaction (one round trip to a shared store);
    ``settle`` replaces a grant's reservation by what the call used, exactly once per grant.
    Both raise the store's error when it cannot be reached; the gateway's policy decides then
    (docs/serve.md: fail closed for a key with a budget, open for rate limits only)."""

    def admit(self, ask: Ask) -> Grant | Refusal: ...

    def settle(self, grant: Grant, tokens: int, cost_usd: float | None) -> None: ...

    def close(self) -> None: ...


# -- the decisions (pure) ----------------------------------------------------------------------


def rate_refusal(
    window: Sequence[tuple[float, int]], now: float, limits: KeyLimits, tokens: int
) -> Refusal | None:
    """``None`` if one more request reserving ``tokens`` fits the limits, given ``window``: the
    ``(admitted at, tokens)`` of the key's requests admitted in ``(now - WINDOW, now]``, oldest
    first. Otherwise the refusal, with the seconds until enough of them leave the window."""
    rpm, tpm = limits.rpm, limits.tpm
    if rpm is not None and len(window) >= rpm:
        # the request that must leave for one more to fit: then len(window) - rpm remain
        leaves = window[len(window) - rpm][0]
        return Refusal(
            "rpm",
            f"this key's limit of {rpm} requests per minute is reached",
            _until(leaves, now),
        )
    if tpm is None:
        return None
    if tokens > tpm:
        return Refusal(
            "tpm",
            f"this request reserves {tokens} tokens (its prompt and max_tokens), more than this "
            f"key's limit of {tpm} tokens per minute: send a smaller max_tokens",
        )
    used = sum(reserved for _, reserved in window)
    if used + tokens <= tpm:
        return None
    at = now
    for at, reserved in window:
        used -= reserved
        if used + tokens <= tpm:
            break
    return Refusal(
        "tpm",
        f"this key's limit of {tpm} tokens per minute is reached ({tokens} more were asked)",
        _until(at, now),
    )


def budget_refusal(
    spent: float, reserved: float, ask: Ask, now: float, period: Period
) -> Refusal | None:
    """``None`` if ``ask``'s worst case fits what is left of the budget after ``spent`` (settled
    calls) and ``reserved`` (calls still running) this period; else the refusal."""
    limits = ask.limits
    budget = limits.budget_usd
    assert budget is not None
    if ask.cost_usd is None:
        if limits.allow_unpriced:
            return None
        return Refusal(
            "unpriced",
            "this key has a budget and the model has no price, so its cost cannot be reserved; "
            "use a priced model (llmring prices) or a key made with --allow-unpriced",
        )
    left = budget - spent - reserved
    if ask.cost_usd <= left + 1e-12:  # float sums: a request of exactly what is left fits
        return None
    resets = datetime.fromtimestamp(period_end(now, period), UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Refusal(
        "budget",
        f"this key's budget of ${budget:g} per {period} cannot cover this request: its worst "
        f"case is ${ask.cost_usd:.6f} (its prompt and max_tokens), ${max(left, 0.0):.6f} is "
        f"left; the budget resets at {resets}",
    )


def _until(at: float, now: float) -> float:
    return max(at + WINDOW - now, 0.0)


def period_of(now: float, period: Period) -> str:
    """The UTC calendar period holding ``now``: ``2026-12-03`` (a day) or ``2026-12``."""
    when = datetime.fromtimestamp(now, UTC)
    return when.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")


def period_end(now: float, period: Period) -> float:
    """When the period holding ``now`` ends (the next UTC midnight, or first of a month)."""
    when = datetime.fromtimestamp(now, UTC)
    start = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return start.timestamp() + 86400
    start = start.replace(day=1)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month).timestamp()


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, rounded up so a client that waits it is not early."""
    return str(max(1, math.ceil(seconds)))
