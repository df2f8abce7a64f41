"""``OpenAIAdapter``: client lifetime and the stream loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

from llmring.providers._drain import drain
from llmring.providers._errors import inband_error, mapped_errors
from llmring.providers._framing import aiter_sse
from llmring.providers._json import decode_json
from llmring.providers.base import ProviderAdapter, StreamEnd, StreamEvent
from llmring.providers.openai._errors import map_error
from llmring.providers.openai._events import ChunkTranslator
from llmring.providers.openai._payload import build_request
from llmring.schemas import LLMRequest

__all__ = ["OpenAIAdapter"]

#: what a keyless OpenAI-compatible server (llama.cpp, vLLM...) gets as the bearer token
KEYLESS = "no-key"


class OpenAIAdapter(ProviderAdapter):
    supports_reasoning = True

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._client: openai.AsyncOpenAI | None = None

    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                api_key=self.config.api_key() or KEYLESS,
                base_url=self.config.base_url,
                max_retries=self.config.max_retries,
            )
        return self._client

    async def stream(self, request: LLMRequest, model: str) -> AsyncIterator[StreamEvent]:
        where = {"provider": self.config.name, "model": model}
        native = self.config.name == "openai"
        kwargs = build_request(request, model, native=native)
        translator = ChunkTranslator(self.config.name, model)
        with mapped_errors(map_error, **where):
            create = self._get_client().chat.completions.with_streaming_response.create
            async with create(**kwargs) as response:
                events = aiter_sse(response.iter_bytes())
                async for sse in events:
                    if sse.data == "[DONE]":
                        await drain(events)  # read the body's end: the connection is reused
                        yield StreamEnd()
                        return
                    data = decode_json(sse.data)
                    if sse.event == "error":  # compatible servers' named error frames
                        raise inband_error(data, **where)
                    for event in translator.translate(data):
                        yield event
                    if translator.pending_error is not None:
                        raise translator.pending_error

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
