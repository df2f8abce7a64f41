"""``AnthropicAdapter``: client lifetime and the stream loop."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from llmring.providers._drain import drain
from llmring.providers._errors import mapped_errors
from llmring.providers._framing import ServerSentEvent, aiter_sse
from llmring.providers._json import decode_json
from llmring.providers.anthropic._errors import map_error
from llmring.providers.anthropic._events import EventTranslator
from llmring.providers.anthropic._payload import build_request
from llmring.providers.base import ProviderAdapter, ProviderConfig, StreamEnd, StreamEvent
from llmring.schemas import LLMRequest

__all__ = ["AnthropicAdapter"]

#: sent to a keyless Anthropic-compatible endpoint. Without an explicit key the SDK would go
#: looking for credentials of its own (profiles on disk, workload identity); llmring's keys
#: come from the environment variables the registry or lockfile name, and nowhere else.
KEYLESS = "no-key"


def _decode(sse: ServerSentEvent) -> Any:
    """The event's JSON; an ``event: error`` whose data is not JSON is still an error."""
    try:
        return decode_json(sse.data)
    except json.JSONDecodeError:
        if sse.event == "error":
            return sse.data
        raise


class AnthropicAdapter(ProviderAdapter):
    supports_reasoning = True

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._client: anthropic.AsyncAnthropic | None = None

    def _get_client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = anthropic.AsyncAnthropic(
                api_key=self.config.api_key() or KEYLESS,
                base_url=self.config.base_url,
                max_retries=self.config.max_retries,
            )
        return self._client

    async def stream(self, request: LLMRequest, model: str) -> AsyncIterator[StreamEvent]:
        where = {"provider": self.config.name, "model": model}
        kwargs = build_request(request, model)  # ConfigurationError before any I/O
        translator = EventTranslator(self.config.name, model)
        with mapped_errors(map_error, **where):
            create = self._get_client().messages.with_streaming_response.create
            async with create(**kwargs) as response:
                events = aiter_sse(response.iter_bytes())
                async for sse in events:
                    for event in translator.translate(sse.event, _decode(sse)):
                        if type(event) is StreamEnd:
                            await drain(events)  # read the body's end: the connection is reused
                        yield event
                    if translator.ended:
                        return

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
