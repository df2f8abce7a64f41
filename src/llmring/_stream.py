"""The facade's stream wrapper: the only place with cross-cutting stream behaviour.

``ChatStream`` drives one request through the alias's candidates. For each candidate it pulls
the adapter's events (each wait bounded by the deadlines), feeds them to the shared assembler,
yields the content chunks, and ends with exactly one terminal chunk. It falls back to the next
candidate only when the failure came before any content and is retryable; after content, any
failure becomes ``StreamInterruptedError`` with the text delivered so far. The adapter's stream
is closed (``aclosing``) on every exit: completion, error, break, ``aclose()``, cancellation.
Adapters come from the ring's pool, and each candidate carries its provider's config: a
stream never calls back into ``LLMRing``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from pydantic import ValidationError

from llmring._assembler import StreamAssembler
from llmring._chain import raise_from, scrub_chain
from llmring._costs import NO_PRICES, Cost, Pricer
from llmring._deadlines import ProviderClock
from llmring._handle import StreamHandle
from llmring.exceptions import (
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from llmring.providers._seam import StreamEvent
from llmring.resolver import Candidate
from llmring.schemas import LLMRequest, LLMResponse, StreamChunk, Usage

if TYPE_CHECKING:
    from llmring._receipts import Recorder
    from llmring.providers._seam import ProviderConfig
    from llmring.providers.base import ProviderAdapter

__all__ = ["ChatStream"]

logger = logging.getLogger("llmring")
logger.addHandler(logging.NullHandler())  # a library logs; the application decides what shows


class AdapterSource(Protocol):
    """Where a stream gets its adapters: the ring's :class:`~llmring._adapters.AdapterPool`."""

    def get(self, config: ProviderConfig) -> ProviderAdapter: ...


class _StreamRun:
    """The state and the work of one stream. Kept apart from :class:`ChatStream` so that the
    running generator never refers back to the handle: when a consumer drops the handle after
    a bare ``break``, nothing keeps the generator alive and the event loop closes it at once."""

    def __init__(
        self,
        request: LLMRequest,
        candidates: Sequence[Candidate],
        adapters: AdapterSource,
        pricer: Pricer = NO_PRICES,
        recorder: Recorder | None = None,
        profile: str | None = None,
        conversation_id: str | None = None,
        *,
        receipt_id: str | None = None,
        key_id: str | None = None,
    ) -> None:
        self.request = request
        self.candidates = tuple(candidates)
        self._adapters = adapters
        self.pricer = pricer
        self.recorder = recorder  # makes the stream's receipt when it ends (None: no receipts)
        self.profile = profile
        self.conversation_id = conversation_id
        #: the receipt's id (``llmring serve``'s request id; ``None``: a fresh UUID version 7)
        self.receipt_id = receipt_id
        #: the id of the gateway API key the call was made with (``None``: a library call)
        self.key_id = key_id
        self._clock: ProviderClock[StreamEvent] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = 0.0  # loop time at the start
        #: when the stream started (UTC): the request time prices are looked up at
        self.started_at: datetime | None = None
        self.candidate: Candidate | None = None  # the one being tried, then the one answering
        self.assembler: StreamAssembler | None = None
        self.first_chunk_latency: float | None = None
        self.duration: float | None = None
        self.failed_attempts: list[tuple[str, ProviderError]] = []
        #: the cost priced at the terminal chunk (the stream is over: it cannot change)
        self.priced: Cost | None = None

    # -- the work ---------------------------------------------------------------------------

    async def chunks(self) -> AsyncGenerator[StreamChunk, None]:
        """Try the candidates in order; see the module docstring for the rules. The receipt is
        made in the ``finally``, whatever ends the stream (see :mod:`llmring._receipts`)."""
        loop = asyncio.get_running_loop()
        self._loop, started = loop, loop.time()
        self._started = started
        self.started_at = datetime.now(UTC)
        clock: ProviderClock[StreamEvent] = ProviderClock()
        self._clock = clock
        outcome: BaseException | None = None
        try:
            for position, candidate in enumerate(self.candidates):
                try:
                    events, assembler, unbounded = self._open(candidate, clock)
                    async with aclosing(events):
                        # the hot loop: one adapter event per turn, no extra generator in between
                        next_event, feed = events.__anext__, assembler.feed
                        while not assembler.ended:
                            try:
                                if unbounded:
                                    event = await next_event()
                                else:
                                    event = await clock.next_event(events, assembler.delivered)
                            except StopAsyncIteration:
                                break
                            except Exception as exc:  # noqa: BLE001 - re-raised, scrubbed
                                self._adapter_failed(assembler, exc)
                            try:
                                chunk = feed(event)
                            except Exception as exc:  # noqa: BLE001 - an event it cannot use
                                self._unusable(assembler, exc)
                            if chunk is not None:
                                if self.first_chunk_latency is None:
                                    self.first_chunk_latency = loop.time() - started
                                yield chunk
                        if not assembler.ended:
                            self._cut(assembler, candidate)
                        self.duration = loop.time() - started
                        yield self._terminal(assembler)
                        return
                except ProviderError as exc:
                    self._fall_back_or_raise(exc, position, candidate)
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            if self.recorder is not None:
                self.recorder.record(self, outcome)

    def _open(
        self, candidate: Candidate, clock: ProviderClock[StreamEvent]
    ) -> tuple[AsyncGenerator[StreamEvent, None], StreamAssembler, bool]:
        """Start ``candidate``: its adapter's events, a fresh assembler, and whether its waits
        are unbounded. A candidate that cannot be used (no SDK, no key) raises its typed
        error here, for the candidate loop to skip it or say why."""
        if candidate.unavailable is not None:
            raise candidate.unavailable.error(candidate.provider, candidate.model)
        adapter = self._adapters.get(candidate.config)
        self.candidate = candidate
        unbounded = clock.start_candidate(self.request.timeouts.over(candidate.config.timeouts))
        assembler = self.assembler = StreamAssembler(candidate.provider, candidate.model)
        return adapter.stream(self.request, candidate.model), assembler, unbounded

    def _adapter_failed(self, assembler: StreamAssembler, exc: Exception) -> NoReturn:
        """The adapter's error, its chain scrubbed of foreign exceptions; an interruption once
        content was delivered."""
        if assembler.delivered:
            raise_from(self._interrupted(assembler, exc), exc)
        scrub_chain(exc)
        raise exc

    def _terminal(self, assembler: StreamAssembler) -> StreamChunk:
        self.priced = self.cost()  # once per stream, off the per-chunk path
        try:
            return assembler.terminal(self._metadata(), self.priced.usd)
        except Exception as exc:  # noqa: BLE001 - the events it was given cannot make one
            self._unusable(assembler, exc)

    def _cut(self, assembler: StreamAssembler, candidate: Candidate) -> None:
        """The adapter stopped without the provider's end marker: never a silent success."""
        cut = ProviderResponseError(
            "the stream ended before the provider's end-of-stream marker",
            provider=candidate.provider,
            model=candidate.model,
        )
        if assembler.delivered:
            raise self._interrupted(assembler, cut) from cut
        raise cut

    def _unusable(self, assembler: StreamAssembler, exc: Exception) -> NoReturn:
        """The adapter yielded an event the assembler cannot use (a wrong type): the
        provider's answer is malformed, as a wrong-shaped frame is; its values stay out of the
        message and the chain (pydantic's errors quote them)."""
        described = _without_values(exc)
        error = ProviderResponseError(
            f"the adapter sent an event llmring cannot use ({described})",
            provider=assembler.provider,
            model=assembler.model,
        )
        if not assembler.delivered:
            raise_from(error, exc, told=described)
        try:
            raise_from(error, exc, told=described)
        except ProviderResponseError:  # ``error``, its chain scrubbed: the interruption's cause
            raise self._interrupted(assembler, error) from error

    def _fall_back_or_raise(self, exc: ProviderError, position: int, candidate: Candidate) -> None:
        """Record a failure before content and return to try the next candidate, or raise."""
        if exc.provider is None:
            exc.provider, exc.model = candidate.provider, candidate.model
        if not exc.retryable or position == len(self.candidates) - 1:
            exc.attempts = [(ref, e.message) for ref, e in self.failed_attempts]
            raise exc
        level = logging.DEBUG if candidate.unavailable else logging.WARNING  # a skip is no news
        logger.log(
            level,
            "%s failed before any content (%s); falling back to %s",
            candidate.ref,
            exc.message,
            self.candidates[position + 1].ref,
        )
        self.failed_attempts.append((candidate.ref, exc))

    def _interrupted(self, assembler: StreamAssembler, cause: Exception) -> StreamInterruptedError:
        reason = cause.message if isinstance(cause, ProviderError) else repr(cause)
        return interruption(assembler, f"the stream broke after content was delivered ({reason})")

    @property
    def expired(self) -> ProviderTimeoutError | None:
        """The error of the deadline that expired, if one did."""
        return self._clock.expired if self._clock is not None else None

    def elapsed(self) -> float | None:
        """Seconds since the stream started (``None`` before)."""
        if self._loop is None:
            return None
        return self._loop.time() - self._started

    def cost(self) -> Cost:
        """The cost of the usage seen so far, from the ring's pricer (see :mod:`llmring._costs`);
        after the terminal chunk, the one priced there."""
        if self.priced is not None:
            return self.priced
        candidate, assembler = self.candidate, self.assembler
        if candidate is None or assembler is None or self.started_at is None:
            return Cost(None, "no_usage")
        try:
            return self.pricer.cost(
                candidate.config.type,
                candidate.provider,
                candidate.model,
                assembler.usage,
                self.started_at,
                reported_model=assembler.model,
            )
        except Exception:  # a pricer's bug must not break the stream
            logger.exception("%s: the pricer failed; the call is unpriced", candidate.ref)
            return Cost(None, "unpriced")

    def _metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "first_chunk_latency": self.first_chunk_latency,
            "duration": self.duration,
        }
        if self.failed_attempts:
            metadata["failed_attempts"] = [
                {"model": ref, "error": str(exc.message)} for ref, exc in self.failed_attempts
            ]
        return metadata


class ChatStream(StreamHandle[StreamChunk]):
    """An async iterator of :class:`StreamChunk` and an async context manager.

    One consumer at a time (``StreamBusyError`` otherwise). ``aclose()`` is idempotent;
    leaving ``async with`` calls it, and so does the event loop right after a bare ``break``
    drops the stream. Called from another task, it closes the provider's connection at once
    and the consumer gets ``StreamInterruptedError`` with the text delivered so far (see
    :mod:`llmring._handle`). After the terminal chunk, ``response`` holds the assembled
    :class:`LLMResponse`; ``provider``, ``model``, ``first_chunk_latency``, ``duration``,
    ``failed_attempts`` and ``cost`` say who answered, how, and what it cost.
    """

    _what = "a ChatStream"

    def __init__(
        self,
        request: LLMRequest,
        candidates: Sequence[Candidate],
        adapters: AdapterSource,
        pricer: Pricer = NO_PRICES,
        recorder: Recorder | None = None,
        profile: str | None = None,
        conversation_id: str | None = None,
        *,
        receipt_id: str | None = None,
        key_id: str | None = None,
    ) -> None:
        self._run = _StreamRun(
            request,
            candidates,
            adapters,
            pricer,
            recorder,
            profile,
            conversation_id,
            receipt_id=receipt_id,
            key_id=key_id,
        )
        super().__init__(self._run.chunks)

    def _finished(self) -> bool:
        return self._run.duration is not None  # set just before the terminal chunk

    def _interrupted(self, reason: str) -> StreamInterruptedError:
        assembler = self._run.assembler
        if assembler is None:
            return StreamInterruptedError(f"the stream was stopped before it began ({reason})")
        return interruption(assembler, f"the stream was stopped ({reason})")

    # -- what is known about the stream ---------------------------------------------------------

    @property
    def request(self) -> LLMRequest:
        return self._run.request

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return self._run.candidates

    @property
    def provider(self) -> str | None:
        return self._run.assembler.provider if self._run.assembler else None

    @property
    def model(self) -> str | None:
        return self._run.assembler.model if self._run.assembler else None

    @property
    def first_chunk_latency(self) -> float | None:
        return self._run.first_chunk_latency

    @property
    def duration(self) -> float | None:
        """Seconds from the first request to the terminal chunk; ``None`` until then."""
        return self._run.duration

    @property
    def failed_attempts(self) -> list[tuple[str, ProviderError]]:
        """``(model_ref, error)`` for each candidate that failed before this one answered."""
        return self._run.failed_attempts

    @property
    def usage(self) -> Usage | None:
        """The usage the provider reported so far (``None`` until it does); final, with
        ``cost`` when priced, once the terminal chunk has been delivered."""
        assembler = self._run.assembler
        return assembler.usage if assembler is not None else None

    @property
    def response(self) -> LLMResponse:
        """The assembled reply; only once the terminal chunk has been delivered."""
        run = self._run
        if run.assembler is None or run.duration is None:
            raise RuntimeError("the stream has not completed; consume it to the terminal chunk")
        return run.assembler.response(run.priced.usd if run.priced else None)

    @property
    def cost(self) -> Cost:
        """What the call cost: ``usd``, ``status`` (``priced``, ``unpriced``, ``no_usage``) and
        where the price came from; priced once, at the terminal chunk (until then, the cost of
        the usage seen so far). See docs/prices.md."""
        return self._run.cost()


def interruption(assembler: StreamAssembler, what: str) -> StreamInterruptedError:
    """``StreamInterruptedError`` for a stream that stopped after ``assembler`` took content:
    ``what`` happened, and ``partial_response`` is exactly the text delivered."""
    return StreamInterruptedError(
        f"{assembler.provider}:{assembler.model}: {what}; partial_response holds the "
        f"{len(assembler.text)} characters received",
        partial_response=assembler.text,
        usage=assembler.usage,
        provider=assembler.provider,
        model=assembler.model,
    )


def _without_values(exc: Exception) -> str:
    """``exc`` told by its type, and by its message only where that names types or fields:
    pydantic's locations and reasons, ``TypeError``/``AttributeError`` texts."""
    name = type(exc).__name__
    if isinstance(exc, ValidationError):
        problems = exc.errors(include_input=False, include_url=False)
        fields = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems)
        return f"{name}: {fields}"
    if isinstance(exc, (AttributeError, TypeError)):
        return f"{name}: {str(exc)[:200]}"
    return name
