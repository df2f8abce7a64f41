"""``OllamaAdapter``: the ollama SDK's client, and the streamed ``POST /api/chat`` on its httpx
client (see the package docstring for why not ``AsyncClient.chat()``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any, cast

import httpx
import ollama

from llmring.exceptions import ProviderUnavailableError
from llmring.providers._framing import NDJSONLines
from llmring.providers._seam import pool_limits
from llmring.providers.base import ProviderAdapter
from llmring.providers.ollama._errors import map_error, status_error
from llmring.providers.ollama._events import LineTranslator
from llmring.providers.ollama._payload import build_body
from llmring.schemas import LLMRequest

__all__ = ["OllamaAdapter"]


class OllamaAdapter(ProviderAdapter[ollama.AsyncClient]):
    """The ``ollama`` provider: a local Ollama server or ollama.com, over ``/api/chat``."""

    supports_reasoning = True
    framer = NDJSONLines
    translator = LineTranslator
    map_error = staticmethod(map_error)

    def _connect(self) -> ollama.AsyncClient:
        # host: ``base_url``, else ``OLLAMA_HOST``, else the SDK's default; the SDK reads
        # ``OLLAMA_API_KEY`` (ollama.com's bearer auth) itself
        return ollama.AsyncClient(host=self.config.base_url, limits=pool_limits(httpx))

    async def _disconnect(self, client: ollama.AsyncClient) -> None:
        await client.close()  # type: ignore[no-untyped-call]  # closes its httpx client

    def _payload(self, request: LLMRequest, model: str) -> dict[str, Any]:
        return build_body(request, model)

    def _http(self) -> httpx.AsyncClient:
        """The SDK client's ``httpx.AsyncClient``, with its host, headers and auth."""
        http = getattr(self.client, "_client", None)
        if not isinstance(http, httpx.AsyncClient):
            raise ProviderUnavailableError(
                "this version of the ollama package keeps no httpx.AsyncClient in "
                "AsyncClient._client, which llmring streams with (tested with ollama 0.6.3)",
                provider=self.config.name,
            )
        return http

    @asynccontextmanager
    async def _open(
        self, payload: dict[str, Any], model: str
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        async with self._http().stream("POST", "/api/chat", json=payload) as response:
            if not response.is_success:
                body = await response.aread()
                raise status_error(
                    response.status_code,
                    body,
                    response.headers,
                    provider=self.config.name,
                    model=model,
                )
            # an async generator, typed as a plain iterator by httpx: closed on exit
            chunks = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
            async with aclosing(chunks):
                yield chunks
