"""The anthropic SDK's exceptions (and its HTTP client's) → llmring's error tree, in one place."""

from __future__ import annotations

import json

import anthropic
import httpx2

from llmring.exceptions import (
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from llmring.providers._errors import error_for_status, undecodable_body

__all__ = ["map_error"]


def _status_message(exc: anthropic.APIStatusError) -> str:
    """The body's ``error.message`` plus its ``error.type`` (``overloaded_error``...).

    The SDK's own ``exc.message`` is ``"Error code: 529 - {...the whole body...}"``; the
    API's sentence is what a user should read.
    """
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(inner, dict) and inner.get("message"):
        message = str(inner["message"])
        kind = inner.get("type")
        return f"{message} ({kind})" if isinstance(kind, str) and kind not in message else message
    if isinstance(inner, str) and inner:
        return inner
    return exc.message


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The llmring error for ``exc``, or ``None`` when it is not the provider's doing."""
    if isinstance(exc, anthropic.APIStatusError):
        return error_for_status(
            exc.status_code,
            _status_message(exc),
            headers=exc.response.headers,
            provider=provider,
            model=model,
        )
    if isinstance(exc, httpx2.DecodingError):  # a corrupt gzip/deflate/brotli body
        return undecodable_body(exc, provider=provider, model=model)
    found = _classify(exc)
    if found is None:
        return None
    error_class, message = found
    return error_class(message, provider=provider, model=model)


def _classify(exc: BaseException) -> tuple[type[ProviderError], str] | None:
    """Most specific first: a timeout is also a connection error, both are request errors."""
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        return ProviderTimeoutError, f"the request timed out ({exc})"
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderConnectionError, f"cannot reach the endpoint: {exc.__cause__ or exc}"
    if isinstance(exc, httpx2.RequestError):
        return ProviderConnectionError, f"the connection failed mid-stream: {exc}"
    if isinstance(exc, json.JSONDecodeError):
        return ProviderResponseError, f"malformed JSON in the stream: {exc}"
    if isinstance(exc, anthropic.CredentialsError):
        return ProviderAuthenticationError, f"the SDK could not load credentials: {exc}"
    if isinstance(exc, anthropic.AnthropicError):
        return ProviderResponseError, str(exc)
    return None
