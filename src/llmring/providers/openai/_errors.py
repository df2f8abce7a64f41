"""The openai SDK's exceptions (and its HTTP client's) → llmring's error tree, in one place."""

from __future__ import annotations

import json

import httpx2
import openai

from llmring.exceptions import (
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from llmring.providers._errors import error_for_status, undecodable_body

__all__ = ["map_error"]


def _status_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return exc.message


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The llmring error for ``exc``, or ``None`` when it is not the provider's doing."""
    if isinstance(exc, openai.APIStatusError):
        return error_for_status(
            exc.status_code,
            _status_message(exc),
            headers=exc.response.headers,
            provider=provider,
            model=model,
        )
    if isinstance(exc, httpx2.DecodingError):  # a corrupt gzip/deflate/brotli body
        return undecodable_body(exc, provider=provider, model=model)
    if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
        return ProviderTimeoutError(
            f"the request timed out ({exc})", provider=provider, model=model
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ProviderConnectionError(
            f"cannot reach the endpoint: {cause}", provider=provider, model=model
        )
    if isinstance(exc, httpx2.RequestError):
        return ProviderConnectionError(
            f"the connection failed mid-stream: {exc}", provider=provider, model=model
        )
    if isinstance(exc, json.JSONDecodeError):
        return ProviderResponseError(
            f"malformed JSON in the stream: {exc}", provider=provider, model=model
        )
    if isinstance(exc, openai.OpenAIError):
        return ProviderResponseError(str(exc), provider=provider, model=model)
    return None
