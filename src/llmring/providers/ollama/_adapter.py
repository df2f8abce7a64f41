"""``OllamaAdapter``: client lifetime, the streamed ``POST /api/chat`` and NDJSON framing."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, cast

import httpx
import ollama

from llmring.exceptions import ProviderResponseError, ProviderUnavailableError
from llmring.providers._drain import drain
from llmring.providers._errors import mapped_errors
from llmring.providers._json import decode_json_line
from llmring.providers.base import ProviderAdapter, ProviderConfig, StreamEnd, StreamEvent
from llmring.providers.ollama._errors import map_error, status_error
from llmring.providers.ollama._events import LineTranslator
from llmring.providers.ollama._payload import build_body
from llmring.schemas import LLMRequest

__all__ = ["LineSplitter", "OllamaAdapter"]


class LineSplitter:
    """NDJSON framing: bytes in, complete lines out, split at ``\\n`` and nowhere else.

    Not ``str.splitlines`` (nor httpx's ``aiter_lines``, built on it): U+0085, U+2028 and
    U+2029 may appear raw inside a JSON string (Go's encoder leaves U+0085 alone) and must
    not end a line. Blank lines are skipped. Pieces of a long line are joined once.
    """

    __slots__ = ("_pieces",)

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            self._pieces.append(chunk)
            return []
        first, *middle, last = chunk.split(b"\n")
        self._pieces.append(first)
        lines = [b"".join(self._pieces), *middle]
        self._pieces = [last] if last else []
        return [line for line in lines if line.strip()]

    def tail(self) -> bytes:
        """What followed the last ``\\n`` when the body ended."""
        tail, self._pieces = b"".join(self._pieces), []
        return tail


def _last_line(tail: bytes, *, provider: str, model: str) -> Any:
    """A final line without its newline: parsed when whole, else the body was cut in it."""
    try:
        return json.loads(tail)
    except ValueError as exc:
        raise ProviderResponseError(
            f"the body ended in the middle of a line ({len(tail)} bytes without a newline)",
            provider=provider,
            model=model,
        ) from exc


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
                lines = LineSplitter()
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
                tail = lines.tail()
                if tail.strip():
                    for event in translator.translate(_last_line(tail, **where)):
                        yield event

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()  # type: ignore[no-untyped-call]  # closes its httpx client
