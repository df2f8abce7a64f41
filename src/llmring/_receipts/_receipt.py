"""One stream's receipt: what the stream hands over when it ends, and the row it becomes.

The stream's ``finally`` makes a :class:`Receipt` (see :mod:`llmring._receipts._recorder`):
the finished run, its status and error, the time it ended, and the content when content
logging is on. :meth:`ReceiptWriter.put <llmring._receipts._writer.ReceiptWriter.put>` turns it
into a row at once (:meth:`Receipt.row`): the id, usage (reported or estimated), cost
(``run.cost()``, priced at the terminal chunk already when the stream completed), JSON and
scrubbed messages; the writer thread only stores rows. The run is finished by then: its
assembler, attempts and usage no longer change.

A row is a plain ``dict`` of :data:`COLUMNS`; the store, the spill file and
``llmring logs import`` all speak it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from llmring._chain import describe

if TYPE_CHECKING:
    from llmring._stream import _StreamRun
    from llmring.exceptions import ProviderError
    from llmring.schemas import Message, ToolCallDict, Usage

__all__ = [
    "COLUMNS",
    "Receipt",
    "ReceiptStatus",
    "Rejection",
    "Row",
    "estimate_tokens",
    "prompt_estimate",
    "stream_usage",
    "uuid7",
]

#: ``ok``: the terminal chunk was delivered; ``error``: it failed before any content;
#: ``interrupted``: it broke after content; ``cancelled``: the consumer stopped it (``break``,
#: ``aclose()``, task cancellation, a gateway client that hung up); ``deadline``: one of
#: llmring's deadlines expired; ``rejected``: ``llmring serve`` refused the request before any
#: upstream call (bad key, a 400, an unknown alias, a body too large, too many streams)
ReceiptStatus = Literal["ok", "error", "interrupted", "cancelled", "deadline", "rejected"]

#: the token classes a receipt keeps in columns of their own (the whole usage is kept too)
TOKEN_CLASSES = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)

#: every column of a receipt row, in order (``key_id``, the gateway key that made the call, came
#: with the store's schema version 2: see ``llmring._receipts._sqlite.MIGRATIONS``)
COLUMNS = (
    "id",
    "started_at",
    "profile",
    "alias",
    "candidates",
    "attempts",
    "provider",
    "model",
    "status",
    "finish_reason",
    "finish_reason_raw",
    "error_class",
    "error_message",
    *TOKEN_CLASSES,
    "usage",
    "usage_source",
    "cost_usd",
    "cost_status",
    "price_source",
    "price_version",
    "first_chunk_latency",
    "duration",
    "chunks",
    "lockfile_digest",
    "conversation_id",
    "prompt",
    "response",
    "reasoning",
    "tool_calls",
    "key_id",
)

#: characters per token in an estimate: the usual rule of thumb for English text with the
#: BPE tokenizers of the big providers (about 4); the receipt says the counts are estimated
CHARS_PER_TOKEN = 4


def uuid7(millis: int | None = None) -> str:
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds (``millis``, default now),
    then random bits, so ids sort by time. Python 3.11's ``uuid`` has no ``uuid7``; this is
    the layout the RFC gives."""
    if millis is None:
        millis = time.time_ns() // 1_000_000
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10))
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def estimate_tokens(chars: int) -> int:
    """Tokens in ``chars`` characters by :data:`CHARS_PER_TOKEN`, rounded up."""
    return math.ceil(chars / CHARS_PER_TOKEN)


class Row(Protocol):
    """What the writer queues: anything that becomes a row (a :class:`Receipt`)."""

    def row(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class Receipt:
    """A finished stream as the writer receives it; see the module docstring."""

    run: _StreamRun
    status: ReceiptStatus
    error: BaseException | None
    #: seconds from the start to the end (to the terminal chunk when ``ok``)
    duration: float | None
    lockfile_digest: str
    #: set only when content logging is on
    messages: list[Message] | None = None
    response: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallDict] | None = field(default=None)

    def row(self) -> dict[str, Any]:
        """The receipt as a row of plain values (see :data:`COLUMNS`)."""
        import json  # at the first receipt: ``import llmring`` does not load it

        run = self.run
        assembler, candidate = run.assembler, run.candidate
        usage, source = self._usage()
        cost = run.cost()
        started = run.started_at
        assert started is not None  # a run that started (only those get receipts)
        error_class, error_message = describe(self.error) if self.error else (None, None)
        counts: dict[str, Any] = dict(usage or {})
        counts.pop("cost", None)  # the cost has columns of its own
        row: dict[str, Any] = {
            "id": run.receipt_id or uuid7(int(started.timestamp() * 1000)),
            "started_at": iso(started),
            "profile": run.profile,
            "alias": run.request.model,
            "candidates": json.dumps([c.ref for c in run.candidates]),
            "attempts": json.dumps([_attempt(ref, exc) for ref, exc in run.failed_attempts])
            if run.failed_attempts
            else "[]",
            "provider": candidate.provider if candidate is not None else None,
            "model": assembler.model if assembler is not None else None,
            "status": self.status,
            "finish_reason": assembler.finish_reason if assembler is not None else None,
            "finish_reason_raw": assembler.finish_reason_raw if assembler is not None else None,
            "error_class": error_class,
            "error_message": error_message,
            **{name: counts.get(name) for name in TOKEN_CLASSES},
            "usage": json.dumps(counts) if counts else None,
            "usage_source": source,
            "cost_usd": cost.usd,
            "cost_status": cost.status,
            "price_source": cost.source,
            "price_version": cost.version,
            "first_chunk_latency": run.first_chunk_latency,
            "duration": self.duration,
            "chunks": assembler.chunks if assembler is not None else 0,
            "lockfile_digest": self.lockfile_digest or None,
            "conversation_id": run.conversation_id,
            "prompt": None,
            "response": self.response,
            "reasoning": self.reasoning,
            "tool_calls": json.dumps(self.tool_calls) if self.tool_calls else None,
            "key_id": run.key_id,
        }
        if self.messages is not None:
            row["prompt"] = json.dumps(
                [m.model_dump(mode="json", exclude_none=True) for m in self.messages]
            )
        return row

    def _usage(self) -> tuple[Usage | None, Literal["reported", "estimated"] | None]:
        return stream_usage(self.run, cancelled=self.status == "cancelled")


def stream_usage(
    run: _StreamRun, *, cancelled: bool
) -> tuple[Usage | None, Literal["reported", "estimated"] | None]:
    """The provider's usage, or, when it reported none, an estimate: the characters produced
    (answer, reasoning, tool-call arguments) and the prompt's message texts, by
    :func:`estimate_tokens`. Estimated when content was delivered, and for a stream the
    consumer cancelled once its request was sent (the provider has read the prompt, and may
    bill it); a stream that failed before any content has no usage. What a receipt records,
    and what the gateway settles a budget with."""
    assembler = run.assembler
    if assembler is None:
        return None, None
    usage = assembler.usage
    if usage:
        return usage, "reported"
    if not assembler.delivered and not cancelled:
        return None, None
    prompt = prompt_estimate(run.request.messages)
    completion = estimate_tokens(assembler.produced_chars())
    estimate: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return estimate, "estimated"


def prompt_estimate(messages: Sequence[Message]) -> int:
    """The prompt's tokens by :func:`estimate_tokens` of each message's text."""
    return sum(estimate_tokens(len(_text_of(m.content))) for m in messages)


@dataclass(slots=True)
class Rejection:
    """A request ``llmring serve`` refused before any upstream call (a bad key, a 400 refusal,
    an unknown alias, a body too large, too many streams): its receipt, status ``rejected``.

    The gateway makes one for every request it answers without streaming, so that each request
    has exactly one receipt; it queues it like a stream's (``ReceiptWriter.put``). The row is
    the one a stream that never started would make: nothing answered, no usage, no cost.
    ``receipt_id`` is the request id the client was told (``x-llmring-request-id``). A client
    that hangs up before the upstream call gets the same row with status ``cancelled``.
    """

    receipt_id: str
    started_at: datetime
    alias: str | None
    profile: str | None
    error: BaseException
    key_id: str | None
    lockfile_digest: str
    #: seconds from the request's arrival to the refusal
    duration: float | None = None
    #: ``cancelled`` for a client that went away before the gateway called upstream
    status: ReceiptStatus = "rejected"

    def row(self) -> dict[str, Any]:
        """The rejection as a row of plain values (see :data:`COLUMNS`)."""
        error_class, error_message = describe(self.error)  # scrubbed of keys
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(
            id=self.receipt_id,
            started_at=iso(self.started_at),
            profile=self.profile,
            alias=self.alias,
            candidates="[]",
            attempts="[]",
            status=self.status,
            error_class=error_class,
            error_message=error_message,
            cost_status="no_usage",
            duration=self.duration,
            chunks=0,
            lockfile_digest=self.lockfile_digest or None,
            key_id=self.key_id,
        )
        return row


def _text_of(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, str):
        return content
    parts = content or []
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str))


def _attempt(ref: str, exc: ProviderError) -> dict[str, Any]:
    error_class, message = describe(exc)
    return {"model": ref, "error_class": error_class, "error": message}


def iso(when: datetime) -> str:
    """UTC time as ``2026-12-01T09:30:00.123456Z``: one fixed width, so text order is time
    order in every store."""
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
