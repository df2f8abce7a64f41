"""``OpenAIResponsesAdapter``: the Responses API, streamed raw through the openai SDK."""

from __future__ import annotations

from typing import Any

from llmring.providers.openai._adapter import OpenAIAdapter
from llmring.providers.openai_responses._events import EventTranslator
from llmring.providers.openai_responses._payload import build_request
from llmring.schemas import LLMRequest

__all__ = ["OpenAIResponsesAdapter"]


class OpenAIResponsesAdapter(OpenAIAdapter):
    """``POST /v1/responses``: the ``openai`` adapter's SDK client and error mapping, another
    request body and other events."""

    translator = EventTranslator
    path = "/responses"

    def _payload(self, request: LLMRequest, model: str) -> dict[str, Any]:
        return build_request(request, model)
