"""``GoogleAdapter``: client lifetime, opening the HTTP stream, and the stream loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
from google import genai
from google.genai import types

from llmring.exceptions import ConfigurationError, ProviderResponseError
from llmring.providers._errors import mapped_errors
from llmring.providers._framing import aiter_sse
from llmring.providers._json import decode_json
from llmring.providers.base import ProviderAdapter, ProviderConfig, StreamEvent
from llmring.providers.google._errors import map_error
from llmring.providers.google._events import ChunkTranslator
from llmring.providers.google._payload import build_body
from llmring.schemas import LLMRequest

__all__ = ["GoogleAdapter"]

#: what a keyless endpoint (a lockfile ``[providers.x]`` with ``type = "google"`` and no
#: ``api_key_env``, e.g. a local proxy) gets as ``x-goog-api-key``: the SDK insists on one
KEYLESS = "no-key"


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


class GoogleAdapter(ProviderAdapter):
    """Gemini API (``generativelanguage.googleapis.com`` or a ``base_url``) via google-genai."""

    supports_reasoning = True

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._client: genai.Client | None = None
        self._http: httpx2.AsyncClient | None = None

    def _get_client(self) -> genai.Client:
        """Made on first use. The ``httpx2`` client is ours, so the SDK never switches to
        aiohttp (with its own hidden reconnect-and-sleep) and its pool closes in ``aclose``."""
        if self._client is None:
            self._http = httpx2.AsyncClient(timeout=None)  # the facade's deadlines apply
            retries = self.config.max_retries
            options = types.HttpOptions(
                base_url=self.config.base_url,
                httpx_async_client=self._http,
                retry_options=types.HttpRetryOptions(attempts=retries + 1) if retries else None,
            )
            self._client = genai.Client(
                api_key=self.config.api_key() or KEYLESS, vertexai=False, http_options=options
            )
        return self._client

    async def stream(self, request: LLMRequest, model: str) -> AsyncIterator[StreamEvent]:
        where = {"provider": self.config.name, "model": model}
        body = build_body(request)  # ConfigurationError before any request
        translator = ChunkTranslator(self.config.name, model)
        response: httpx2.Response | None = None
        try:
            with mapped_errors(map_error, **where):
                response = await open_stream(self._get_client(), model, body)
                async for sse in aiter_sse(response.aiter_bytes()):
                    for event in translator.translate(decode_json(sse.data)):
                        yield event
                for event in translator.end():  # Finish + StreamEnd, if the finish chunk came
                    yield event
        finally:
            if response is not None:
                await response.aclose()  # closes the connection if the body was not read

    async def aclose(self) -> None:
        client, self._client = self._client, None
        http, self._http = self._http, None
        if client is not None:
            client.close()  # the SDK's own sync client (never used by llmring)
            await client.aio.aclose()
        if http is not None:
            await http.aclose()
