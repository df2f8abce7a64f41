"""LLMRequest → the keyword arguments of ``chat.completions.create``."""

from __future__ import annotations

from typing import Any

from llmring.providers._choices import refuse_several_choices
from llmring.schemas import LLMRequest, Message

__all__ = ["build_request"]


def _message(message: Message) -> dict[str, Any]:
    item: dict[str, Any] = {"role": message.role}
    if message.content is not None:
        item["content"] = message.content
    if message.tool_calls:
        # provider_data belongs to other providers (reasoning signatures); OpenAI rejects it
        item["tool_calls"] = [
            {k: v for k, v in call.items() if k != "provider_data"} for call in message.tool_calls
        ]
        item.setdefault("content", None)
    if message.tool_call_id:
        item["tool_call_id"] = message.tool_call_id
    if message.name:
        item["name"] = message.name
    return item


def build_request(request: LLMRequest, model: str, *, native: bool) -> dict[str, Any]:
    """Arguments for a streamed Chat Completions call.

    ``native`` is true for OpenAI itself, which wants ``max_completion_tokens``; other
    OpenAI-compatible servers (llama.cpp, vLLM, Groq...) get the widely understood
    ``max_tokens``. ``stop`` is ``stop``, as in every compatible server. ``extra_params``
    travel as extra top-level JSON fields.
    """
    extra = dict(request.extra_params)
    refuse_several_choices(extra)
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.max_tokens is not None:
        kwargs["max_completion_tokens" if native else "max_tokens"] = request.max_tokens
    if request.tools:
        kwargs["tools"] = request.tools
    if request.tool_choice is not None:
        kwargs["tool_choice"] = request.tool_choice
    if request.response_format is not None:
        kwargs["response_format"] = request.response_format
    if request.stop is not None:
        kwargs["stop"] = request.stop
    if extra:
        kwargs["extra_body"] = extra
    return kwargs
