"""Chat Completions stream events → llmring adapter events."""

from __future__ import annotations

from typing import Any, Literal

from llmring.providers import base
from llmring.providers._choices import first_choice
from llmring.providers._errors import inband_error
from llmring.providers._framing import ServerSentEvent
from llmring.providers._json import decode_json
from llmring.providers._shape import (
    entry,
    index,
    mapping,
    not_an_object,
    optional_text,
    text,
    wrong_type,
)
from llmring.schemas import FinishReason, Usage

__all__ = ["ChunkTranslator", "usage_from"]

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


#: llmring's names for the three counts, in the order they are read
_COUNTS: tuple[Literal["prompt_tokens", "completion_tokens", "total_tokens"], ...] = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
)


def usage_from(
    usage: dict[str, Any], *, prompt: str = "prompt_tokens", completion: str = "completion_tokens"
) -> Usage:
    """OpenAI usage → llmring's names (details only when reported; the assembler checks
    the values).

    Chat Completions counts ``prompt_tokens`` and ``completion_tokens``; the Responses API
    names the same counts ``input_tokens`` and ``output_tokens`` (``prompt``, ``completion``),
    and both put the cached and reasoning tokens in ``<prompt>_details.cached_tokens`` and
    ``<completion>_details.reasoning_tokens``.
    """
    result: Usage = {}
    for ours, theirs in zip(_COUNTS, (prompt, completion, "total_tokens"), strict=True):
        if usage.get(theirs) is not None:
            result[ours] = usage[theirs]
    cached = _dict(usage.get(f"{prompt}_details")).get("cached_tokens")
    if cached is not None:
        result["cached_tokens"] = cached
    reasoning = _dict(usage.get(f"{completion}_details")).get("reasoning_tokens")
    if reasoning is not None:
        result["reasoning_tokens"] = reasoning
    return result


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class ChunkTranslator(base.TranslatorBase):
    """Stateful translation of one stream (the model is reported once; refusals are noted).

    The end marker is ``data: [DONE]``. In-band errors come as a named ``event: error`` frame
    (compatible servers) or as a chunk with an ``error`` (OpenRouter and others), which may
    carry usage: its events are returned and ``error`` is set.
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._model_reported = False
        self._refused = False

    def translate(self, frame: ServerSentEvent) -> list[base.StreamEvent]:
        if frame.data == "[DONE]":
            self.ended = True
            return []
        data = decode_json(frame.data)
        if frame.event == "error":
            return self._fail(data)
        if type(data) is not dict:
            raise not_an_object("a chunk")
        if data.get("error"):
            return self._fail(data)
        events: list[base.StreamEvent] = []
        if not self._model_reported and data.get("model"):
            self._model_reported = True
            events.append(base.ModelReport(text(data["model"], "model")))
        for choice in data.get("choices") or ():
            self._choice(choice, events)
        usage = data.get("usage")
        if usage:
            events.append(base.UsageReport(usage_from(usage)))
        return events

    def _fail(self, data: Any) -> list[base.StreamEvent]:
        self.ended = True
        self.error = inband_error(data, provider=self.provider, model=self.model)
        usage = data.get("usage") if type(data) is dict else None
        return [base.UsageReport(usage_from(usage))] if usage else []

    def _choice(self, item: Any, events: list[base.StreamEvent]) -> None:
        choice = first_choice(item, "choices", "n", provider=self.provider, model=self.model)
        delta = choice.get("delta") or {}
        if type(delta) is not dict:
            raise wrong_type("choices[].delta", "an object")
        for key in ("reasoning_content", "reasoning"):  # vLLM/llama.cpp/DeepSeek; Groq/OpenRouter
            if delta.get(key):
                events.append(base.ReasoningDelta(text(delta[key], f"delta.{key}")))
        content = delta.get("content")
        if content:
            if type(content) is not str:
                raise wrong_type("delta.content", "a string")
            events.append(base.TextDelta(content))
        if delta.get("refusal"):
            self._refused = True
            events.append(base.TextDelta(text(delta["refusal"], "delta.refusal")))
        for call in delta.get("tool_calls") or ():
            events.append(_fragment(entry(call, "delta.tool_calls[]")))
        raw = choice.get("finish_reason")
        if raw:
            raw = text(raw, "finish_reason")
            reason = FINISH_REASONS.get(raw, "other")
            if self._refused and reason == "stop":
                reason = "content_filter"  # a refusal streams as text but is not an answer
            events.append(base.Finish(reason, raw))


def _fragment(call: dict[str, Any]) -> base.ToolCallFragment:
    function = mapping(call.get("function"), "tool_calls[].function")
    return base.ToolCallFragment(
        index=index(call.get("index", 0), "tool_calls[].index"),
        id=optional_text(call.get("id"), "tool_calls[].id"),
        name=optional_text(function.get("name"), "tool_calls[].function.name"),
        arguments=optional_text(function.get("arguments"), "tool_calls[].function.arguments") or "",
    )
