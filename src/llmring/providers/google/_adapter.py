"""``GoogleAdapter``: the google-genai client and opening its HTTP stream raw."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from google import genai
from google.genai import types

from llmring.exceptions import ConfigurationError, ProviderResponseError
from llmring.providers._seam import pool_limits
from llmring.providers.base import ProviderAdapter
from llmring.providers.google._errors import map_error
from llmring.providers.google._events import ChunkTranslator
from llmring.providers.google._payload import build_body
from llmring.schemas import LLMRequest

__all__ = ["Clients", "GoogleAdapter"]


def model_path(model: str) -> str:
    """``models/<model>`` (or a ``models/...``/``tunedModels/...`` name as it is)."""
    if not model or any(bad in model for bad in ("..", "?", "&", "#")):
        raise ConfigurationError(f"{model!r} is not a valid Gemini model name")
    if model.startswith(("models/", "tunedModels/")):
        return model
    return f"models/{model}"


async def open_stream(client: genai.Client, model: str, body: dict[str, Any]) -> httpx2.Response:
    """Send the streamed request through the SDK's own API client and return the raw response.

    The SDK builds the URL (base URL, API version, ``?alt=sse``) and the headers (the key as
    ``x-goog-api-key``, never in the URL), applies its retry options, sends it on our
    ``httpx2`` client, and raises its ``APIError`` for an HTTP error status. We take the
    response before its body is read: ``generate_content_stream`` wraps it in six nested
    async generators, and closing the outer one leaves the inner one that owns the response
    open until it is garbage-collected; it also builds a pydantic object per chunk, may send
    hidden follow-up requests (automatic continuation), and hides whether the body ended
    cleanly. ``_build_request``/``_async_request`` are private to the SDK (it has no public
    raw-streaming call); ``tests/test_requests_google.py`` pins what they send.
    """
    api = client.aio._api_client
    http_request = api._build_request(
        "post", f"{model_path(model)}:streamGenerateContent?alt=sse", body
    )
    response = await api._async_request(http_request=http_request, stream=True)
    raw = response.response_stream
    if not isinstance(raw, httpx2.Response):  # pragma: no cover - we pass our own httpx2 client
        raise ProviderResponseError(f"unexpected SDK response type {type(raw).__name__}")
    return raw


@dataclass(frozen=True)
class Clients:
    """The SDK's client and the ``httpx2`` client it sends on, which is ours: so the SDK never
    switches to aiohttp (with its own hidden reconnect-and-sleep), and its pool closes with
    the adapter."""

    genai: genai.Client
    http: httpx2.AsyncClient


class GoogleAdapter(ProviderAdapter[Clients]):
    """Gemini API (``generativelanguage.googleapis.com`` or a ``base_url``) via google-genai."""

    supports_reasoning = True
    translator = ChunkTranslator
    map_error = staticmethod(map_error)

    def _connect(self) -> Clients:
        # the facade's deadlines apply; no cap on connections (``pool_limits``)
        http = httpx2.AsyncClient(timeout=None, limits=pool_limits(httpx2))
        retries = self.config.max_retries
        options = types.HttpOptions(
            base_url=self.config.base_url,
            httpx_async_client=http,
            retry_options=types.HttpRetryOptions(attempts=retries + 1) if retries else None,
        )
        client = genai.Client(api_key=self.api_key, vertexai=False, http_options=options)
        return Clients(client, http)

    async def _disconnect(self, clients: Clients) -> None:
        clients.genai.close()  # the SDK's own sync client (never used by llmring)
        await clients.genai.aio.aclose()
        await clients.http.aclose()

    def _payload(self, request: LLMRequest, model: str) -> dict[str, Any]:
        return build_body(request)

    @asynccontextmanager
    async def _open(
        self, payload: dict[str, Any], model: str
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        response = await open_stream(self.client.genai, model, payload)
        try:
            yield response.aiter_bytes()
        finally:
            await response.aclose()  # closes the connection if the body was not read
