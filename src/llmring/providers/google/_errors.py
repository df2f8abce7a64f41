"""google-genai's exceptions, its HTTP client's, and Gemini error payloads → llmring's errors.

Gemini errors are ``{"error": {"code", "message", "status", "details": [...]}}``, as the HTTP
body of a failed request (even when its content type says ``text/event-stream``) or, in
principle, as a chunk of a 200 stream. The status mapping is the shared one
(:func:`llmring.providers._errors.error_for_status`) with two Gemini additions:

* an invalid or expired key is an HTTP **400** with ``details[].reason == "API_KEY_INVALID"``;
  it is a ``ProviderAuthenticationError`` (``status_code`` 400), like a 401: a rejected key
  raises (no fallback to the alias's next model) and the message says to check the key;
* a 429 without a ``retry-after`` header takes ``retry_after`` from the body's
  ``google.rpc.RetryInfo`` ``retryDelay`` (``"37s"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx2
from google.genai import errors as genai_errors

from llmring.exceptions import (
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from llmring.providers._errors import error_for_status, undecodable_body

__all__ = ["error_from_payload", "inband_error", "map_error"]

_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})


def _details(error: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


#: a ``google.protobuf.Duration`` in JSON: seconds, up to nine fractional digits, then ``s``
_DURATION = re.compile(r"([0-9]{1,12}(?:\.[0-9]{1,9})?)s")


def _retry_delay_ms(error: Mapping[str, Any]) -> str | None:
    """``RetryInfo.retryDelay`` (``"37s"``, ``"1.5s"``) in milliseconds, as the
    ``retry-after-ms`` header says it; ``None`` for anything that is not a duration."""
    for detail in _details(error):
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (match := _DURATION.fullmatch(delay)):
            return repr(float(match[1]) * 1000)
    return None


def error_from_payload(
    code: int | None,
    error: Mapping[str, Any],
    *,
    provider: str,
    model: str,
    headers: Mapping[str, str] | None = None,
    prefix: str = "",
) -> ProviderError:
    """The llmring error for a Gemini error object (the value of ``"error"``)."""
    message = str(error.get("message") or "the provider reported an error")[:500]
    reasons = [str(d["reason"]) for d in _details(error) if d.get("reason")]
    words = [w for w in (error.get("status"), *reasons) if isinstance(w, str) and w]
    label = f" ({', '.join(words)})" if words else ""
    text = f"{prefix}{message}{label}"
    if _KEY_REASONS & set(reasons):
        return ProviderAuthenticationError(
            f"{text}; check GEMINI_API_KEY / GOOGLE_API_KEY",
            provider=provider,
            model=model,
            status_code=code,
        )
    merged = dict(headers or {})
    if not any(k.lower() in ("retry-after", "retry-after-ms") for k in merged):
        delay = _retry_delay_ms(error)
        if delay is not None:
            merged["retry-after-ms"] = delay
    return error_for_status(code, text, provider=provider, model=model, headers=merged)


def inband_error(error: Any, *, provider: str, model: str) -> ProviderError:
    """An ``{"error": {...}}`` chunk inside a 200 stream."""
    if not isinstance(error, dict):
        return ProviderResponseError(
            f"in-stream error: {str(error)[:200]}", provider=provider, model=model
        )
    code = error.get("code") if isinstance(error.get("code"), int) else None
    return error_from_payload(
        code, error, provider=provider, model=model, prefix="in-stream error: "
    )


def _api_error(exc: genai_errors.APIError, provider: str, model: str) -> ProviderError:
    details = exc.details if isinstance(exc.details, dict) else {}
    error = details.get("error", details)
    if not isinstance(error, dict):
        error = {}
    error = {"message": exc.message or f"HTTP {exc.code}", "status": exc.status, **error}
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return error_from_payload(
        exc.code,
        error,
        provider=provider,
        model=model,
        headers=dict(headers) if headers is not None else None,
    )


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The llmring error for ``exc``, or ``None`` when it is not the provider's doing."""
    where: dict[str, Any] = {"provider": provider, "model": model}
    if isinstance(exc, genai_errors.APIError):
        return _api_error(exc, provider, model)
    if isinstance(exc, httpx2.DecodingError):  # a corrupt gzip/deflate/brotli body
        return undecodable_body(exc, **where)
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderTimeoutError(f"the request timed out ({exc})", **where)
    if isinstance(exc, httpx2.ConnectError):
        return ProviderConnectionError(f"cannot reach the endpoint: {exc}", **where)
    if isinstance(exc, httpx2.RequestError):
        return ProviderConnectionError(
            f"the connection failed mid-stream: {exc or type(exc).__name__}", **where
        )
    return None
