"""The one assembler: adapter events in, stream chunks out, the terminal chunk at the end.

Every adapter's events pass through a :class:`StreamAssembler`. It drops empty pieces, turns
each content event into a content ``StreamChunk``, accumulates text, reasoning, tool-call
fragments (keyed by index, never by id alone) and usage (fields merge, last value wins, so
cumulative reports are never summed), and builds the terminal chunk and the ``LLMResponse``
from the same state, so ``chat()`` and ``chat_stream()`` cannot disagree.

Usage is finalised here, once, when it is read: every token count must be an ``int`` (not a
``bool``) from 0 to :data:`MAX_TOKEN_COUNT`. If one is not (``-5``, ``10**30``, ``"7"``),
the provider's usage cannot be trusted as a whole, so it is treated as unreported (``None``),
with one warning on the ``llmring`` logger, rather than passed on to receipts and costs.
The one non-count, ``cost`` (US dollars), is added to the terminal chunk's and the response's
copy after that check, by the stream that priced the usage.
"""

from __future__ import annotations

import hashlib
import logging
import reprlib
from typing import Any

from llmring._text import TextPieces
from llmring.providers._seam import (
    Finish,
    ModelReport,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallFragment,
    UsageReport,
)
from llmring.schemas import (
    FinishReason,
    LLMResponse,
    StreamChunk,
    ToolCallDelta,
    ToolCallDict,
    Usage,
)

__all__ = ["MAX_TOKEN_COUNT", "StreamAssembler"]

logger = logging.getLogger("llmring")

#: The largest token count passed on: far beyond any context window (a few million tokens
#: today), and within a signed 32-bit column.
MAX_TOKEN_COUNT = 1_000_000_000


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_TOKEN_COUNT


class _ToolCall:
    __slots__ = ("arguments", "extra", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments = TextPieces()
        self.extra: dict[str, Any] = {}

    def as_openai(self, index: int) -> ToolCallDict:
        arguments = self.arguments.text() or "{}"
        name = self.name or ""
        call_id = self.id or _stable_id(index, name, arguments)
        call: ToolCallDict = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        if self.extra:
            call["provider_data"] = dict(self.extra)
        return call


def _stable_id(index: int, name: str, arguments: str) -> str:
    """Providers that send no call ids (Gemini, older Ollama) get deterministic ones."""
    digest = hashlib.sha1(f"{index}:{name}:{arguments}".encode()).hexdigest()[:12]
    return f"call_{index}_{digest}"


class StreamAssembler:
    """Accumulate one candidate's events; see the module docstring."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self._text = TextPieces()
        self._reasoning = TextPieces()
        self._calls: dict[int, _ToolCall] = {}
        self._fragments = 0  # tool-call chunks produced (text and reasoning count themselves)
        self._usage: Usage = {}  # as reported: the values are checked when it is read
        self._usage_doubted = False  # warned once about implausible counts
        self.finish_reason: FinishReason | None = None
        self.finish_reason_raw: str | None = None
        self.ended = False
        self.delivered = False  # has any content chunk been produced?

    def feed(self, event: StreamEvent) -> StreamChunk | None:
        """Take one event; return the content chunk to yield for it, if any."""
        if type(event) is TextDelta:  # the hot path: most events are answer text
            text = event.text
            if not text:
                return None
            # the chunk first: if the event cannot make one, nothing was taken from it
            chunk = StreamChunk(delta=text, model=self.model, provider=self.provider)
            self._text.add(text)
            self.delivered = True
            return chunk
        if isinstance(event, ReasoningDelta):
            if not event.text:
                return None
            chunk = self._content(reasoning=event.text)
            self._reasoning.add(event.text)
            return chunk
        if isinstance(event, ToolCallFragment):
            return self._tool_fragment(event)
        if isinstance(event, UsageReport):
            self._usage.update(event.usage)
        elif isinstance(event, Finish):
            self.finish_reason, self.finish_reason_raw = event.reason, event.raw
        elif isinstance(event, ModelReport):
            self.model = event.model
        elif isinstance(event, StreamEnd):
            self.ended = True
        return None

    def _content(self, **fields: Any) -> StreamChunk:
        chunk = StreamChunk(model=self.model, provider=self.provider, **fields)
        self.delivered = True
        return chunk

    def _tool_fragment(self, event: ToolCallFragment) -> StreamChunk | None:
        call = self._calls.get(event.index)
        if call is None:
            call = self._calls[event.index] = _ToolCall()
        if event.id:
            call.id = event.id
        if event.name:
            call.name = event.name
        if event.extra:
            call.extra.update(event.extra)
        if event.arguments:
            call.arguments.add(event.arguments)
        if not (event.id or event.name or event.arguments):
            return None
        self._fragments += 1
        delta = ToolCallDelta(
            index=event.index, id=event.id, name=event.name, arguments=event.arguments
        )
        return self._content(tool_call_delta=delta)

    # -- what has been assembled -------------------------------------------------------------

    @property
    def text(self) -> str:
        """All answer text delivered so far."""
        return self._text.text()

    @property
    def chunks(self) -> int:
        """How many content chunks were produced: text, reasoning and tool-call fragments
        (derived from what was accumulated, so the text path counts nothing per chunk)."""
        return len(self._text) + len(self._reasoning) + self._fragments

    def produced_chars(self) -> int:
        """Characters produced (answer, reasoning, tool-call arguments), counted without
        joining anything: what a receipt estimates output tokens from."""
        calls = sum(call.arguments.chars() for call in self._calls.values())
        return self._text.chars() + self._reasoning.chars() + calls

    @property
    def reasoning(self) -> str:
        """All reasoning text delivered so far."""
        return self._reasoning.text()

    @property
    def usage(self) -> Usage | None:
        """The usage reported so far, finalised (see the module docstring); ``None`` when the
        provider reported none, or counts that cannot be right."""
        if not self._usage:
            return None
        implausible = [
            f"{name}={reprlib.repr(value)}"
            for name, value in self._usage.items()
            if not _is_count(value) and name != "cost"
        ]
        if implausible:
            if not self._usage_doubted:
                self._usage_doubted = True
                logger.warning(
                    "%s:%s reported token counts that cannot be right (%s); its "
                    "usage is treated as unreported",
                    self.provider,
                    self.model,
                    ", ".join(implausible),
                )
            return None
        usage = self._usage.copy()
        usage.pop("cost", None)  # the cost is llmring's to work out, never an adapter's
        if "total_tokens" not in usage and {"prompt_tokens", "completion_tokens"} <= usage.keys():
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return usage

    @property
    def tool_calls(self) -> list[ToolCallDict] | None:
        if not self._calls:
            return None
        return [self._calls[i].as_openai(i) for i in sorted(self._calls)]

    def _priced_usage(self, cost: float | None) -> Usage | None:
        """The finalised usage, with ``cost`` (US dollars) when the call was priced."""
        usage = self.usage
        if usage is not None and cost is not None:
            usage["cost"] = cost
        return usage

    def terminal(
        self, metadata: dict[str, Any] | None = None, cost: float | None = None
    ) -> StreamChunk:
        """The one last chunk of a successful stream; ``cost`` as ``usage["cost"]``."""
        return StreamChunk(
            delta="",
            model=self.model,
            provider=self.provider,
            finish_reason=self.finish_reason or "other",
            finish_reason_raw=self.finish_reason_raw,
            usage=self._priced_usage(cost),
            tool_calls=self.tool_calls,
            metadata=metadata or {},
        )

    def response(self, cost: float | None = None) -> LLMResponse:
        """The whole reply, equal to what the terminal chunk and the deltas carry."""
        return LLMResponse(
            content=self.text,
            model=self.model,
            provider=self.provider,
            finish_reason=self.finish_reason or "other",
            finish_reason_raw=self.finish_reason_raw,
            usage=self._priced_usage(cost),
            tool_calls=self.tool_calls,
            reasoning=self._reasoning.text() or None,
        )
