"""``OpenAIAdapter``: Chat Completions, streamed raw through the openai SDK."""

from __future__ import annotations

from typing import Any, ClassVar

import openai

from llmring.providers._stainless import StainlessAdapter
from llmring.providers.base import Translator
from llmring.providers.openai._errors import map_error
from llmring.providers.openai._events import ChunkTranslator
from llmring.providers.openai._payload import build_request
from llmring.schemas import LLMRequest

__all__ = ["OpenAIAdapter"]


class OpenAIAdapter(StainlessAdapter[openai.AsyncOpenAI]):
    """OpenAI's Chat Completions, and every server that speaks it (llama.cpp, vLLM, Groq...)."""

    supports_reasoning = True
    client_class = openai.AsyncOpenAI
    path: ClassVar[str] = "/chat/completions"
    translator: ClassVar[type[Translator[Any]]] = ChunkTranslator  # another for a subclass
    map_error = staticmethod(map_error)

    def _payload(self, request: LLMRequest, model: str) -> dict[str, Any]:
        # OpenAI itself takes max_completion_tokens; compatible servers know max_tokens
        native = self.config.name == "openai"
        return build_request(request, model, native=native)
