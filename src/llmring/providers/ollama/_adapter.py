"""``OllamaAdapter``: client lifetime, the streamed ``POST /api/chat`` and NDJSON framing."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import cast

import httpx
import ollama

from llmring.exceptions import ProviderResponseError, ProviderUnavailableError
from llmring.providers._drain import drain
from llmring.providers._errors import mapped_errors
from llmring.providers._framing import FrameError, NDJSONLines
from llmring.providers._json import decode_json_line
from llmring.providers.base import ProviderAdapter, ProviderConfig, StreamEnd, StreamEvent
from llmring.providers.ollama._errors import map_error, status_error
from llmring.providers.ollama._events import LineTranslator
from llmring.providers.ollama._payload import build_body
from llmring.schemas import LLMRequest

__all__ = ["OllamaAdapter"]


def _last_lines(lines: NDJSONLines, *, provider: str, model: str) -> list[bytes]:
    try:
        return lines.finish()
    except FrameError as exc:
        raise ProviderResponseError(str(exc), provider=provider, model=model) from None


class OllamaAdapter(ProviderAdapter):
    """The ``ollama`` provider: a local Ollama server or ollama.com, over ``/api/chat``."""

    supports_reasoning = True

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._client: ollama.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        """The SDK client's ``httpx.AsyncClient``: host (``base_url``, else ``OLLAMA_HOST``,
        else the SDK's default), headers and ``OLLAMA_API_KEY`` auth all come from the SDK."""
        if self._client is None:
            self._client = ollama.AsyncClient(host=self.config.base_url)
        http = getattr(self._client, "_client", None)
        if not isinstance(http, httpx.AsyncClient):
            raise ProviderUnavailableError(
                "this version of the ollama package keeps no httpx.AsyncClient in "
                "AsyncClient._client, which llmring streams with (tested with ollama 0.6.3)",
                provider=self.config.name,
            )
        return http

    async def stream(self, request: LLMRequest, model: str) -> AsyncIterator[StreamEvent]:
        where = {"provider": self.config.name, "model": model}
        body = build_body(request, model)  # ConfigurationError here: before any request
        translator = LineTranslator(self.config.name, model)
        with mapped_errors(map_error, **where):
            async with self._http().stream("POST", "/api/chat", json=body) as response:
                if not response.is_success:
                    raise status_error(
                        response.status_code, await response.aread(), response.headers, **where
                    )
                lines = NDJSONLines()
                # an async generator, typed as a plain iterator by httpx: close it on exit
                raw = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
                async with aclosing(raw) as chunks:
                    async for chunk in chunks:
                        for line in lines.feed(chunk):
                            for event in translator.translate(decode_json_line(line)):
                                if type(event) is StreamEnd:
                                    await drain(chunks)  # the body's end: connection reused
                                    yield event
                                    return
                                yield event
                for line in _last_lines(lines, **where):
                    for event in translator.translate(decode_json_line(line)):
                        yield event

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()  # type: ignore[no-untyped-call]  # closes its httpx client
