"""The gateway's admission step: a limited key's request is admitted (or refused) against its
rate limits and budget before any upstream call, and settled when its stream ends.

Order (:mod:`llmring.serve._app`): key, stream slot, body, mapping, alias, then admission,
which needs the alias's candidates (to price the worst case) and ``max_tokens``. A key with no
limits never reaches here: no store round trip. A limited key's request costs one transaction
in the shared store (in a worker thread: SQLite blocks), and its end one more, off the
request path (a thread the response does not wait for; :meth:`Limiter.aclose` waits for them).

What a request reserves (:class:`~llmring._receipts._admission.Ask`):

* tokens: the prompt's estimate (characters / 4, as receipts estimate) plus ``max_tokens``;
  a key with a tpm limit or a budget gets ``max_tokens`` =
  :data:`~llmring._receipts._admission.DEFAULT_MAX_TOKENS` set on a request that sent none,
  so what it reserves bounds what it can produce;
* cost: those tokens priced for each usable candidate of the alias, the dearest (a fallback
  may answer); ``None`` when one is unpriced.

Refusals (docs/serve.md's error table): rpm or tpm → 429 ``rate_limit_exceeded`` with
``Retry-After`` (seconds until the window frees enough); a request that alone reserves more
than the tpm → 400 ``tokens_exceed_limit``; budget → 402 ``budget_exceeded``; an unpriced
model under a budget → 402 ``unpriced_model``.

When the store cannot be reached (its error, not a refusal): a key with a budget is refused
(503 ``limits_unavailable``: fail closed, no spending that cannot be counted), a key with rate
limits only is admitted uncounted (fail open: availability over a rate limit), and a warning
is logged, once per outage. A PostgreSQL store that is down answers at once
(:mod:`llmring._receipts._postgres_pool`), so neither waits. A settlement the store cannot
take is kept (up to :data:`UNSETTLED`) and retried once the store answers again, so an outage
leaves no worst case reserved until the period ends.

Settling: the cost the provider's usage priced at; when it reported none, the receipt's
estimate (content delivered, or a request cancelled after it was sent) priced the same way;
nothing when nothing was sent. Every admitted request settles once, from the ``finally`` of
its response, whatever ended it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from llmring._receipts._admission import (
    Admission,
    Ask,
    Grant,
    KeyLimits,
    Refusal,
    retry_after_header,
)
from llmring.serve._errors import APIError

if TYPE_CHECKING:
    from llmring._receipts._settings import StoreURL
    from llmring._stream import ChatStream, _StreamRun
    from llmring.schemas import Usage
    from llmring.serve._openai_api import ChatCall

__all__ = ["Limiter", "bounded", "refusal_error"]

logger = logging.getLogger("llmring.serve")

#: settlements kept while the store is away (about 100 bytes each)
UNSETTLED = 100_000


class Limiter:
    """Admits and settles limited keys' requests in one :class:`Admission` (opened on first
    use, in a worker thread, by ``open_admission``)."""

    def __init__(self, open_admission: Callable[[], Admission]) -> None:
        self._open = open_admission
        self._admission: Admission | None = None
        self._pending: set[asyncio.Future[None]] = set()
        self._failing = False  # the store failed the last call: told once, not per request
        #: settlements the store could not take, retried once it answers (the oldest dropped
        #: beyond the bound: their reservations then stay until the period ends)
        self._unsettled: deque[tuple[Grant, int, float | None]] = deque(maxlen=UNSETTLED)

    @classmethod
    def for_store(cls, store: StoreURL) -> Limiter:
        """Admission in the gateway's store: the workers of one host share a SQLite file; the
        hosts sharing a PostgreSQL database share its tables."""
        if store.kind == "postgresql":
            from llmring._receipts._postgres_admission import PostgresAdmission

            return cls(lambda: PostgresAdmission(store))
        from llmring._receipts._sqlite_admission import SQLiteAdmission

        assert store.path is not None
        path = store.path
        return cls(lambda: SQLiteAdmission(path))

    def _get(self) -> Admission:
        if self._admission is None:
            self._admission = self._open()
        return self._admission

    async def admit(self, key_id: str, limits: KeyLimits, stream: ChatStream) -> Grant | None:
        """The grant of ``stream``'s request (``None``: admitted uncounted, the store being
        out of reach for a key without a budget); a refusal is raised as an :class:`APIError`."""
        ask = asking(key_id, limits, stream)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, lambda: self._get().admit(ask))
        try:
            decided = await asyncio.shield(future)
        except asyncio.CancelledError:  # the grant, if it comes, is released
            future.add_done_callback(self._release_late)
            raise
        except Exception as exc:  # noqa: BLE001 - the store's error: the policy decides
            self._failed(exc)
            return _unreachable(limits)
        if self._failing or self._unsettled:
            self._answered()
            if self._unsettled:
                self._in_thread(self._retry_settlements)
        if isinstance(decided, Refusal):
            raise refusal_error(decided)
        return decided

    def _release_late(self, future: asyncio.Future[Grant | Refusal]) -> None:
        if not future.cancelled() and future.exception() is None:
            grant = future.result()
            if isinstance(grant, Grant) and grant.settles:
                self._settle_in_thread(grant, 0, 0.0)

    def settle(self, grant: Grant, stream: ChatStream, *, cancelled: bool) -> None:
        """Settle ``grant`` with what ``stream`` used, in a worker thread (not waited for)."""
        tokens, cost = spent(stream, cancelled=cancelled)
        self._settle_in_thread(grant, tokens, cost)

    def _settle_in_thread(self, grant: Grant, tokens: int, cost: float | None) -> None:
        self._in_thread(lambda: self._settle(grant, tokens, cost))

    def _in_thread(self, work: Callable[[], None]) -> None:
        """Run ``work`` in a worker thread, not waited for (:meth:`aclose` waits)."""
        future = asyncio.get_running_loop().run_in_executor(None, work)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _settle(self, grant: Grant, tokens: int, cost: float | None) -> None:
        try:
            self._get().settle(grant, tokens, cost)
        except Exception as exc:  # noqa: BLE001 - kept, retried once the store answers
            self._unsettled.append((grant, tokens, cost))
            self._failed(exc)
            return
        if self._failing or self._unsettled:
            self._answered()
            self._retry_settlements()

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            logger.warning(
                "llmring serve cannot check or settle limits in its store (%s): keys with a "
                "budget are refused (503 limits_unavailable), keys with rate limits only are "
                "admitted uncounted, until it answers",
                exc,
            )

    def _answered(self) -> None:
        if self._failing:
            self._failing = False
            logger.warning("llmring serve checks limits in its store again")

    def _retry_settlements(self) -> None:
        """Settle what the store could not take while it was away (blocking: a worker
        thread; settling a grant twice charges it once, so a retry is harmless)."""
        while self._unsettled:
            try:
                grant, tokens, cost = self._unsettled.popleft()
            except IndexError:  # another thread took the last one
                return
            try:
                self._get().settle(grant, tokens, cost)
            except Exception as exc:  # noqa: BLE001 - away again: kept for the next time
                self._unsettled.appendleft((grant, tokens, cost))
                self._failed(exc)
                return

    async def wait_settled(self) -> None:
        """Wait for the settlements under way (and retries of kept ones)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Wait for the settlements under way, then close the store."""
        await self.wait_settled()
        if self._admission is not None:
            admission, self._admission = self._admission, None
            await asyncio.to_thread(admission.close)


def bounded(call: ChatCall, limits: KeyLimits | None) -> ChatCall:
    """``call``, with ``max_tokens`` set to the default cap when its key's limits reserve
    tokens (tpm, budget) and it sent none: what it reserves then bounds what it can use."""
    if limits is None or not limits.reserves_tokens or call.request.max_tokens is not None:
        return call
    from dataclasses import replace

    from llmring._receipts._admission import DEFAULT_MAX_TOKENS

    request = call.request.model_copy(update={"max_tokens": DEFAULT_MAX_TOKENS})
    return replace(call, request=request)


def asking(key_id: str, limits: KeyLimits, stream: ChatStream) -> Ask:
    """What ``stream``'s request reserves; see the module docstring."""
    from llmring._receipts._receipt import prompt_estimate

    request = stream.request
    prompt = prompt_estimate(request.messages)
    output = request.max_tokens or 0
    tokens = prompt + output if limits.reserves_tokens else 0
    if limits.budget_usd is None:
        return Ask(key_id, limits, tokens)
    worst: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
    }
    pricer, now = _run_of(stream).pricer, datetime.now(UTC)
    cost: float | None = 0.0
    for candidate in stream.candidates:
        if not candidate.usable:
            continue  # never called
        price = pricer.cost(
            candidate.config.type, candidate.provider, candidate.model, worst, now
        ).usd
        if price is None:
            cost = None
            break
        cost = max(cost or 0.0, price)
    return Ask(key_id, limits, tokens, cost)


def spent(stream: ChatStream, *, cancelled: bool) -> tuple[int, float | None]:
    """The tokens and cost (USD; ``None``: unpriced) to settle a finished stream with."""
    from llmring._receipts._receipt import stream_usage

    run = _run_of(stream)
    usage, source = stream_usage(run, cancelled=cancelled)
    if usage is None:
        return 0, 0.0
    tokens = usage.get("total_tokens") or (
        usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
    )
    if source == "reported":
        cost = run.cost()
    else:
        candidate = run.candidate
        assert candidate is not None and run.started_at is not None  # it was sent
        cost = run.pricer.cost(
            candidate.config.type, candidate.provider, candidate.model, usage, run.started_at
        )
    return tokens, cost.usd if cost.status == "priced" else None


def _run_of(stream: ChatStream) -> _StreamRun:
    """The stream's run: its pricer, candidate and assembler (internal to llmring)."""
    return stream._run


def _unreachable(limits: KeyLimits) -> Grant | None:
    """The policy when the store cannot be reached: closed for a budget, open otherwise."""
    if limits.budget_usd is not None:
        raise APIError(
            503,
            "server_error",
            "this key's budget cannot be checked now (the gateway's store is out of reach); "
            "try again later",
            code="limits_unavailable",
            headers={"retry-after": "1"},
        )
    return None


def refusal_error(refusal: Refusal) -> APIError:
    """The answer to a refusal: 429 (rpm, tpm), 400 (tpm can never fit), 402 (budget)."""
    if refusal.reason in ("budget", "unpriced"):
        code = "budget_exceeded" if refusal.reason == "budget" else "unpriced_model"
        return APIError(402, "insufficient_quota", refusal.message, code=code)
    if refusal.retry_after is None:
        return APIError(
            400, "invalid_request_error", refusal.message, "max_tokens", "tokens_exceed_limit"
        )
    return APIError(
        429,
        "rate_limit_error",
        refusal.message,
        code="rate_limit_exceeded",
        headers={"retry-after": retry_after_header(refusal.retry_after)},
    )
