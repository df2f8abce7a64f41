"""Ollama's failures (HTTP statuses, the HTTP client's exceptions, bad lines) → llmring's
error tree, in one place.

Ollama answers errors as ``{"error": "<message>"}`` with a 4xx/5xx status; the status, the
message and the response headers (``retry-after`` on a 429 from ollama.com or a proxy) go
to the shared :func:`error_for_status`. A 404 is an unknown model (``ModelNotFoundError``,
so an alias can fall back); a 400 such as "does not support tools" is the request's fault
and not retryable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
import ollama

from llmring.exceptions import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
)
from llmring.providers._errors import error_for_status, undecodable_body

__all__ = ["map_error", "status_error"]


def _message(status: int, body: bytes) -> str:
    """The ``error`` text of an error body, or the body itself when it is not Ollama's JSON."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        error = payload["error"]
        inner = error.get("message") if isinstance(error, dict) else error
        return str(inner or error)
    return text[:500] or f"HTTP {status} with an empty body"


def status_error(
    status: int, body: bytes, headers: Mapping[str, str], *, provider: str, model: str
) -> ProviderError:
    """The llmring error for a non-2xx answer to ``/api/chat``."""
    return error_for_status(
        status, _message(status, body), headers=headers, provider=provider, model=model
    )


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The llmring error for ``exc``, or ``None`` when it is not the provider's doing."""
    if isinstance(exc, ollama.ResponseError):  # the SDK's own calls, should any be used
        status = exc.status_code if exc.status_code > 0 else None
        return error_for_status(status, str(exc.error), provider=provider, model=model)
    if isinstance(exc, httpx.DecodingError):  # a corrupt gzip/deflate/brotli body
        return undecodable_body(exc, provider=provider, model=model)
    message: str | None = None
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(
            f"the request to ollama timed out ({exc!r})", provider=provider, model=model
        )
    if isinstance(exc, httpx.ConnectError):
        message = (
            f"cannot reach the ollama server ({exc}); is it running, and is the "
            "lockfile's base_url (or OLLAMA_HOST) right?"
        )
    elif isinstance(exc, httpx.TransportError):  # RemoteProtocolError, ReadError, ...
        message = f"the connection failed mid-stream: {exc!r}"
    if message is not None:
        return ProviderConnectionError(message, provider=provider, model=model)
    return None
