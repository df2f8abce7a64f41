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
from typing import Any

from llmring.providers import base
from llmring.providers._errors import inband_error
from llmring.providers._framing import ServerSentEvent
from llmring.providers._json import decode_json
from llmring.providers._shape import index, mapping, not_an_object, optional_text, text, wrong_type
from llmring.schemas import FinishReason, Usage

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
#: the nested usage fields kept, as (object, field): each is a part of a count above, or a
#: priced unit of its own
_NESTED_USAGE_FIELDS = (
    ("output_tokens_details", "thinking_tokens"),
    ("cache_creation", "ephemeral_1h_input_tokens"),
    ("server_tool_use", "web_search_requests"),
)


def usage_from(raw: Mapping[str, Any]) -> Usage:
    """Anthropic usage → llmring's names.

    Anthropic's ``input_tokens`` excludes the prompt tokens read from or written to the cache
    (``cache_read_input_tokens``, ``cache_creation_input_tokens``); llmring's
    ``prompt_tokens`` is the whole prompt, as OpenAI's is, with the cached parts also given
    apart. ``thinking_tokens`` (from ``output_tokens_details``) are part of ``output_tokens``.
    ``cache_creation_1h_tokens`` (from ``cache_creation.ephemeral_1h_input_tokens``) are the
    part of the cache writes billed at the one-hour rate; ``web_search_requests`` (from
    ``server_tool_use``) are billed per search.
    """
    usage: Usage = {}
    cache_read = raw.get("cache_read_input_tokens")
    cache_creation = raw.get("cache_creation_input_tokens")
    if "input_tokens" in raw:
        usage["prompt_tokens"] = base.add_counts(
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
    if "ephemeral_1h_input_tokens" in raw:
        usage["cache_creation_1h_tokens"] = raw["ephemeral_1h_input_tokens"]
    if "web_search_requests" in raw:
        usage["web_search_requests"] = raw["web_search_requests"]
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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decode(frame: ServerSentEvent) -> Any:
    """The event's JSON; an ``event: error`` whose data is not JSON is still an error."""
    try:
        return decode_json(frame.data)
    except json.JSONDecodeError:
        if frame.event == "error":
            return frame.data
        raise


class EventTranslator(base.TranslatorBase):
    """Stateful translation of one stream: content blocks by index, usage, thinking blocks.

    The end marker is ``message_stop``; an in-band error is an ``event: error`` (or a
    ``"type": "error"`` event), which sets ``error``.
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._blocks: dict[int, _Block] = {}
        self._thinking: list[_Block] = []  # thinking not yet attached to a client tool call
        self._calls = 0
        self._usage: dict[str, Any] = {}

    def translate(self, frame: ServerSentEvent) -> list[base.StreamEvent]:
        data = _decode(frame)
        kind = data.get("type") if type(data) is dict else None
        if frame.event == "error" or kind == "error":
            self.ended = True
            self.error = inband_error(data, provider=self.provider, model=self.model)
            return []
        if type(data) is not dict:
            raise not_an_object("an event")
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
        return []  # ping, content_block_stop, event types added later

    def _message_start(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        message = data.get("message")
        if type(message) is not dict:
            raise wrong_type("message_start.message", "an object")
        model = optional_text(message.get("model"), "message.model")
        events: list[base.StreamEvent] = [base.ModelReport(model)] if model else []
        return events + self._usage_report(message.get("usage"))

    def _message_delta(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        delta = mapping(data.get("delta"), "message_delta.delta")
        raw = optional_text(delta.get("stop_reason"), "delta.stop_reason")
        events: list[base.StreamEvent] = []
        if raw:
            events.append(base.Finish(STOP_REASONS.get(raw, "other"), raw))
        return events + self._usage_report(data.get("usage"))

    def _usage_report(self, usage: Any) -> list[base.StreamEvent]:
        """Merge a (cumulative) usage object, field by field, last value wins; report it all.

        ``message_delta`` repeats the input counts (and, after server tools, raises them), and
        its cache fields can be ``null``: a missing or null field keeps the earlier value.
        """
        if not isinstance(usage, dict):
            return []
        for name in _USAGE_FIELDS:
            if usage.get(name) is not None:
                self._usage[name] = usage[name]
        for parent, name in _NESTED_USAGE_FIELDS:
            value = _dict(usage.get(parent)).get(name)
            if value is not None:
                self._usage[name] = value
        report = usage_from(self._usage)
        return [base.UsageReport(report)] if report else []

    def _block_start(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        position = index(data.get("index"), "content_block_start.index")
        block = data.get("content_block")
        if type(block) is not dict:
            raise wrong_type("content_block_start.content_block", "an object")
        kind = block.get("type")
        if kind == "tool_use":
            return self._tool_start(position, block)
        if kind not in ("text", "thinking", "redacted_thinking"):
            # server_tool_use, web_search_tool_result, ...: Anthropic ran the tool itself;
            # such a block is not a call for the caller to make, and carries no answer text
            self._blocks[position] = _Block("other")
            return []
        state = self._blocks[position] = _Block(kind)
        if kind == "text":
            initial = optional_text(block.get("text"), "content_block.text")
            return [base.TextDelta(initial)] if initial else []
        self._thinking.append(state)
        if kind == "redacted_thinking":  # opaque; only its ``data`` goes back to the API
            state.pieces.append(optional_text(block.get("data"), "content_block.data") or "")
            return []
        state.signature = optional_text(block.get("signature"), "content_block.signature") or ""
        thinking = optional_text(block.get("thinking"), "content_block.thinking") or ""
        state.pieces.append(thinking)
        return [base.ReasoningDelta(thinking)] if thinking else []

    def _tool_start(self, index: int, block: dict[str, Any]) -> list[base.StreamEvent]:
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
        call_id = optional_text(block.get("id"), "tool_use.id")
        name = optional_text(block.get("name"), "tool_use.name")
        events: list[base.StreamEvent] = [
            base.ToolCallFragment(call, id=call_id, name=name, extra=extra)
        ]
        initial = block.get("input")
        if isinstance(initial, dict) and initial:
            # Anthropic starts with ``input: {}`` and streams the JSON; a compatible server
            # that sends the input whole at the start sends no input_json_delta after it
            events.append(base.ToolCallFragment(call, arguments=json.dumps(initial)))
        return events

    def _block_delta(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        delta = data.get("delta")
        if type(delta) is not dict:
            raise wrong_type("content_block_delta.delta", "an object")
        kind = delta.get("type")
        if kind == "text_delta":  # the hot path
            piece = delta.get("text")
            if type(piece) is not str:
                raise wrong_type("text_delta.text", "a string")
            return [base.TextDelta(piece)]
        state = self._blocks.get(index(data.get("index"), "content_block_delta.index"))
        if kind == "input_json_delta":
            arguments = text(delta.get("partial_json"), "input_json_delta.partial_json")
            if state is None or state.call is None:
                return []  # a server_tool_use block's input: not a client call
            return [base.ToolCallFragment(state.call, arguments=arguments)]
        if kind == "thinking_delta":
            thinking = text(delta.get("thinking"), "thinking_delta.thinking")
            if state is not None and state.kind == "thinking":
                state.pieces.append(thinking)
            return [base.ReasoningDelta(thinking)]
        if kind == "signature_delta" and state is not None and state.kind == "thinking":
            # replaces, as the SDK does
            state.signature = text(delta.get("signature"), "signature_delta.signature")
        # citations_delta: the cited source of a text block; its text came as text_delta
        return []
