"""Chat Completions stream chunks (parsed JSON) → llmring adapter events."""

from __future__ import annotations

from typing import Any

from llmring.exceptions import ProviderError, ProviderResponseError
from llmring.providers._errors import inband_error
from llmring.providers.base import (
    Finish,
    ModelReport,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallFragment,
    UsageReport,
)
from llmring.schemas import FinishReason

__all__ = ["ChunkTranslator"]

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def usage_from(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage → llmring's names (details only when reported; the assembler checks
    the values)."""
    result = {
        key: usage[key]
        for key in ("prompt_tokens", "completion_tokens", "total_tokens")
        if usage.get(key) is not None
    }
    cached = _dict(usage.get("prompt_tokens_details")).get("cached_tokens")
    if cached is not None:
        result["cached_tokens"] = cached
    reasoning = _dict(usage.get("completion_tokens_details")).get("reasoning_tokens")
    if reasoning is not None:
        result["reasoning_tokens"] = reasoning
    return result


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class ChunkTranslator:
    """Stateful translation of one stream (the model is reported once; refusals are noted)."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self._model_reported = False
        self._refused = False
        self.pending_error: ProviderError | None = None

    def translate(self, data: Any) -> list[StreamEvent]:
        """The events of one chunk. A chunk with an ``error`` (OpenRouter and others send
        errors that way) yields the usage it carries and sets ``pending_error``,
        which the adapter raises after yielding them."""
        if not isinstance(data, dict):
            raise ProviderResponseError(
                f"unexpected stream data: {str(data)[:200]}",
                provider=self.provider,
                model=self.model,
            )
        if data.get("error"):
            self.pending_error = inband_error(data, provider=self.provider, model=self.model)
            usage = data.get("usage")
            return [UsageReport(usage_from(usage))] if usage else []
        events: list[StreamEvent] = []
        if not self._model_reported and data.get("model"):
            self._model_reported = True
            events.append(ModelReport(data["model"]))
        for choice in data.get("choices") or ():
            self._choice(choice, events)
        usage = data.get("usage")
        if usage:
            events.append(UsageReport(usage_from(usage)))
        return events

    def _choice(self, choice: dict[str, Any], events: list[StreamEvent]) -> None:
        if choice.get("index", 0) != 0:
            raise ProviderResponseError(
                "the provider sent several choices (n > 1); llmring streams one",
                provider=self.provider,
                model=self.model,
            )
        delta = choice.get("delta") or {}
        for key in ("reasoning_content", "reasoning"):  # vLLM/llama.cpp/DeepSeek; Groq/OpenRouter
            if delta.get(key):
                events.append(ReasoningDelta(delta[key]))
        if delta.get("content"):
            events.append(TextDelta(delta["content"]))
        if delta.get("refusal"):
            self._refused = True
            events.append(TextDelta(delta["refusal"]))
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            events.append(
                ToolCallFragment(
                    index=call.get("index", 0),
                    id=call.get("id"),
                    name=function.get("name"),
                    arguments=function.get("arguments") or "",
                )
            )
        raw = choice.get("finish_reason")
        if raw:
            reason = FINISH_REASONS.get(raw, "other")
            if self._refused and reason == "stop":
                reason = "content_filter"  # a refusal streams as text but is not an answer
            events.append(Finish(reason, raw))
