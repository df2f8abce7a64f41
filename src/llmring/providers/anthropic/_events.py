"""Messages API stream events (parsed JSON) → llmring adapter events.

A stream is ``message_start`` (model, input usage), then for each content block, named by its
``index``, ``content_block_start`` / ``content_block_delta``* / ``content_block_stop``, then
``message_delta`` (``stop_reason``, cumulative usage) and ``message_stop``, the end marker.
``ping`` may come anywhere; event types this module does not know are skipped, as Anthropic's
versioning policy allows new ones to appear.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeGuard

from llmring.exceptions import ProviderResponseError
from llmring.providers._errors import inband_error
from llmring.providers.base import (
    Finish,
    ModelReport,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallFragment,
    UsageReport,
    add_counts,
)
from llmring.schemas import FinishReason

__all__ = ["STOP_REASONS", "EventTranslator", "usage_from"]

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    # the context window, not max_tokens, cut the reply: still a reply cut by a token limit
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "pause_turn": "pause",
    "refusal": "content_filter",
}

#: the usage fields kept from ``message_start.message.usage`` and ``message_delta.usage``
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def usage_from(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic usage → llmring's names.

    Anthropic's ``input_tokens`` excludes the prompt tokens read from or written to the cache
    (``cache_read_input_tokens``, ``cache_creation_input_tokens``); llmring's
    ``prompt_tokens`` is the whole prompt, as OpenAI's is, with the cached parts also given
    apart. ``thinking_tokens`` (from ``output_tokens_details``) are part of ``output_tokens``.
    """
    usage: dict[str, Any] = {}
    cache_read = raw.get("cache_read_input_tokens")
    cache_creation = raw.get("cache_creation_input_tokens")
    if "input_tokens" in raw:
        usage["prompt_tokens"] = add_counts(
            raw["input_tokens"], cache_read or 0, cache_creation or 0
        )
    if "output_tokens" in raw:
        usage["completion_tokens"] = raw["output_tokens"]
    if cache_read is not None:
        usage["cached_tokens"] = cache_read
    if cache_creation is not None:
        usage["cache_creation_tokens"] = cache_creation
    if "thinking_tokens" in raw:
        usage["reasoning_tokens"] = raw["thinking_tokens"]
    return usage


class _Block:
    """One content block of the reply, as far as it has arrived."""

    __slots__ = ("call", "kind", "pieces", "signature")

    def __init__(self, kind: str, call: int | None = None) -> None:
        self.kind = kind  # text | thinking | redacted_thinking | tool_use | other
        self.call = call  # the client tool call's index (tool_use blocks)
        self.pieces: list[str] = []  # thinking text, or the redacted block's ``data``
        self.signature = ""

    def as_param(self) -> dict[str, str]:
        """The block as it must be sent back in the next request."""
        if self.kind == "redacted_thinking":
            return {"type": "redacted_thinking", "data": "".join(self.pieces)}
        return {"type": "thinking", "thinking": "".join(self.pieces), "signature": self.signature}


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class EventTranslator:
    """Stateful translation of one stream: content blocks by index, usage, thinking blocks."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.ended = False
        self._blocks: dict[int, _Block] = {}
        self._thinking: list[_Block] = []  # thinking not yet attached to a client tool call
        self._calls = 0
        self._usage: dict[str, Any] = {}

    def translate(self, event: str | None, data: Any) -> list[StreamEvent]:
        """The events of one SSE event (``event`` is its name, ``data`` its parsed JSON)."""
        kind = data.get("type") if isinstance(data, dict) else None
        if event == "error" or kind == "error":
            raise inband_error(data, provider=self.provider, model=self.model)
        if not isinstance(data, dict):
            raise self._unexpected(data)
        if kind == "content_block_delta":
            return self._block_delta(data)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "message_start":
            return self._message_start(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            self.ended = True
            return [StreamEnd()]
        return []  # ping, content_block_stop, event types added later

    def _unexpected(self, data: Any) -> ProviderResponseError:
        return ProviderResponseError(
            f"unexpected stream data: {str(data)[:200]}", provider=self.provider, model=self.model
        )

    def _message_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        message = data.get("message")
        if not isinstance(message, dict):
            raise self._unexpected(data)
        model = message.get("model")
        events: list[StreamEvent] = [ModelReport(model)] if isinstance(model, str) and model else []
        return events + self._usage_report(message.get("usage"))

    def _message_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        raw = _dict(data.get("delta")).get("stop_reason")
        events: list[StreamEvent] = []
        if isinstance(raw, str) and raw:
            events.append(Finish(STOP_REASONS.get(raw, "other"), raw))
        return events + self._usage_report(data.get("usage"))

    def _usage_report(self, usage: Any) -> list[StreamEvent]:
        """Merge a (cumulative) usage object, field by field, last value wins; report it all.

        ``message_delta`` repeats the input counts (and, after server tools, raises them), and
        its cache fields can be ``null``: a missing or null field keeps the earlier value.
        """
        if not isinstance(usage, dict):
            return []
        for name in _USAGE_FIELDS:
            if usage.get(name) is not None:
                self._usage[name] = usage[name]
        thinking = _dict(usage.get("output_tokens_details")).get("thinking_tokens")
        if thinking is not None:
            self._usage["thinking_tokens"] = thinking
        report = usage_from(self._usage)
        return [UsageReport(report)] if report else []

    def _block_start(self, data: dict[str, Any]) -> list[StreamEvent]:
        index, block = data.get("index"), data.get("content_block")
        if not _int(index) or not isinstance(block, dict):
            raise self._unexpected(data)
        kind = block.get("type")
        if kind == "tool_use":
            return self._tool_start(index, block)
        if kind not in ("text", "thinking", "redacted_thinking"):
            # server_tool_use, web_search_tool_result, ...: Anthropic ran the tool itself;
            # such a block is not a call for the caller to make, and carries no answer text
            self._blocks[index] = _Block("other")
            return []
        state = self._blocks[index] = _Block(kind)
        if kind == "text":
            return [TextDelta(str(block["text"]))] if block.get("text") else []
        self._thinking.append(state)
        if kind == "redacted_thinking":  # opaque; only its ``data`` goes back to the API
            state.pieces.append(str(block.get("data") or ""))
            return []
        state.signature = str(block.get("signature") or "")
        text = str(block.get("thinking") or "")
        state.pieces.append(text)
        return [ReasoningDelta(text)] if text else []

    def _tool_start(self, index: int, block: dict[str, Any]) -> list[StreamEvent]:
        """A client tool call: numbered 0, 1, ... among the reply's ``tool_use`` blocks.

        Its first fragment carries the thinking blocks that came since the previous call;
        Anthropic needs them back, signed and before the ``tool_use``, on the next request.
        """
        call = self._calls
        self._calls += 1
        self._blocks[index] = _Block("tool_use", call)
        extra = None
        if self._thinking:
            extra = {"anthropic_thinking": [b.as_param() for b in self._thinking]}
            self._thinking = []
        events: list[StreamEvent] = [
            ToolCallFragment(call, id=block.get("id"), name=block.get("name"), extra=extra)
        ]
        initial = block.get("input")
        if isinstance(initial, dict) and initial:
            # Anthropic starts with ``input: {}`` and streams the JSON; a compatible server
            # that sends the input whole at the start sends no input_json_delta after it
            events.append(ToolCallFragment(call, arguments=json.dumps(initial)))
        return events

    def _block_delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            raise self._unexpected(data)
        index = data.get("index")
        state = self._blocks.get(index) if _int(index) else None  # None: never started
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(str(delta.get("text") or ""))]
        if kind == "input_json_delta":
            if state is None or state.call is None:
                return []  # a server_tool_use block's input: not a client call
            return [ToolCallFragment(state.call, arguments=str(delta.get("partial_json") or ""))]
        if kind == "thinking_delta":
            text = str(delta.get("thinking") or "")
            if state is not None and state.kind == "thinking":
                state.pieces.append(text)
            return [ReasoningDelta(text)]
        if kind == "signature_delta" and state is not None and state.kind == "thinking":
            state.signature = str(delta.get("signature") or "")  # replaces, as the SDK does
        # citations_delta: the cited source of a text block; its text came as text_delta
        return []
