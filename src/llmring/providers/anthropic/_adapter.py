"""``AnthropicAdapter``: the Messages API, streamed raw through the anthropic SDK."""

from __future__ import annotations

from typing import Any

import anthropic

from llmring.providers._stainless import StainlessAdapter
from llmring.providers.anthropic._errors import map_error
from llmring.providers.anthropic._events import EventTranslator
from llmring.providers.anthropic._payload import build_request
from llmring.schemas import LLMRequest

__all__ = ["AnthropicAdapter"]


class AnthropicAdapter(StainlessAdapter[anthropic.AsyncAnthropic]):
    """Anthropic's Messages API (or a compatible endpoint); see the package docstring."""

    supports_reasoning = True  # thinking blocks, with their signatures
    client_class = anthropic.AsyncAnthropic
    path = "/v1/messages"
    translator = EventTranslator
    map_error = staticmethod(map_error)

    def _payload(self, request: LLMRequest, model: str) -> dict[str, Any]:
        return build_request(request, model)
