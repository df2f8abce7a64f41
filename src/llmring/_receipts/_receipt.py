"""One stream's receipt: what is captured when the stream ends, and the row it becomes.

The stream captures a :class:`Receipt` in its ``finally`` (:func:`capture`): references and a
few numbers, nothing serialised, so the stream's side costs a few microseconds. The writer
thread turns it into a row (:meth:`Receipt.row`): JSON, ISO times and scrubbed messages are
made there, off the request path.

A row is a plain ``dict`` of the columns in docs/receipts.md; the SQLite store, the spill file
and ``llmring logs import`` all speak it.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from llmring._chain import describe

if TYPE_CHECKING:
    from llmring._costs import Cost
    from llmring.exceptions import ProviderError
    from llmring.schemas import Message, ToolCallDict, Usage

__all__ = ["COLUMNS", "Receipt", "ReceiptStatus", "estimate_tokens", "uuid7"]

#: ``ok``: the terminal chunk was delivered; ``error``: it failed before any content;
#: ``interrupted``: it broke after content; ``cancelled``: the consumer stopped it (``break``,
#: ``aclose()``, task cancellation); ``deadline``: one of llmring's deadlines expired
ReceiptStatus = Literal["ok", "error", "interrupted", "cancelled", "deadline"]

#: the token classes a receipt keeps in columns of their own (the whole usage is kept too)
TOKEN_CLASSES = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)

#: every column of a receipt row, in order
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
)

#: characters per token in an estimate: the usual rule of thumb for English text with the
#: BPE tokenizers of the big providers (about 4); the receipt says the counts are estimated
CHARS_PER_TOKEN = 4


def uuid7() -> str:
    """A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort
    by time. Python 3.11's ``uuid`` has no ``uuid7``; this is the layout the RFC gives."""
    millis = time.time_ns() // 1_000_000
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10))
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def estimate_tokens(text: str) -> int:
    """Tokens in ``text`` by :data:`CHARS_PER_TOKEN`, rounded up; 0 for no text."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(slots=True)
class Receipt:
    """What a stream hands to the writer when it ends; see the module docstring."""

    id: str
    started_at: datetime
    status: ReceiptStatus
    profile: str | None
    alias: str
    candidates: tuple[str, ...]
    attempts: list[tuple[str, ProviderError]]
    provider: str | None
    model: str | None
    finish_reason: str | None
    finish_reason_raw: str | None
    error: BaseException | None
    usage: Usage | None
    usage_source: Literal["reported", "estimated"] | None
    cost: Cost
    first_chunk_latency: float | None
    duration: float | None
    chunks: int
    lockfile_digest: str | None
    conversation_id: str | None
    #: set only when content logging is on
    messages: list[Message] | None = None
    response: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallDict] | None = None

    def row(self) -> dict[str, Any]:
        """The receipt as a row of plain values (see :data:`COLUMNS`)."""
        usage: dict[str, Any] = dict(self.usage or {})
        usage.pop("cost", None)  # the cost has columns of its own
        error_class, error_message = describe(self.error) if self.error else (None, None)
        row: dict[str, Any] = {
            "id": self.id,
            "started_at": iso(self.started_at),
            "profile": self.profile,
            "alias": self.alias,
            "candidates": json.dumps(list(self.candidates)),
            "attempts": json.dumps([_attempt(ref, exc) for ref, exc in self.attempts]),
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "finish_reason": self.finish_reason,
            "finish_reason_raw": self.finish_reason_raw,
            "error_class": error_class,
            "error_message": error_message,
            **{name: usage.get(name) for name in TOKEN_CLASSES},
            "usage": json.dumps(usage) if usage else None,
            "usage_source": self.usage_source,
            "cost_usd": self.cost.usd,
            "cost_status": self.cost.status,
            "price_source": self.cost.source,
            "price_version": self.cost.version,
            "first_chunk_latency": self.first_chunk_latency,
            "duration": self.duration,
            "chunks": self.chunks,
            "lockfile_digest": self.lockfile_digest or None,
            "conversation_id": self.conversation_id,
            "prompt": None,
            "response": self.response,
            "reasoning": self.reasoning,
            "tool_calls": json.dumps(self.tool_calls) if self.tool_calls else None,
        }
        if self.messages is not None:
            row["prompt"] = json.dumps(
                [m.model_dump(mode="json", exclude_none=True) for m in self.messages]
            )
        return row


def _attempt(ref: str, exc: ProviderError) -> dict[str, Any]:
    error_class, message = describe(exc)
    return {"model": ref, "error_class": error_class, "error": message}


def iso(when: datetime) -> str:
    """UTC time as ``2026-12-01T09:30:00.123456Z``: one fixed width, so text order is time
    order in every store."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
