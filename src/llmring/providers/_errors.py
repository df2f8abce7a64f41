"""From an HTTP status (or an in-band error payload) to llmring's error tree, for every adapter.

Each adapter pulls the status, message and headers out of its own SDK's exception, then calls
:func:`error_for_status`, so the mapping itself is written once:

====================== ==============================================================
status                  error
====================== ==============================================================
401, 403                ``ProviderAuthenticationError`` (not retryable: a rejected key raises)
404                     ``ModelNotFoundError``
408                     ``ProviderTimeoutError``
429                     ``ProviderRateLimitError`` (``retry_after`` from the headers)
5xx, 529 (overloaded)   ``ProviderResponseError`` (retryable)
other 4xx               ``ProviderResponseError`` (not retryable: the request is wrong)
====================== ==============================================================
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from llmring._chain import raise_from, scrub_chain
from llmring.exceptions import (
    ModelNotFoundError,
    ProviderAuthenticationError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from llmring.providers._framing import FrameError

__all__ = [
    "ERROR_TYPE_STATUS",
    "error_for_status",
    "inband_error",
    "mapped_errors",
    "parse_retry_after",
    "undecodable_body",
]

#: In-band error events often name a ``type`` but no status (Anthropic always does; OpenAI's
#: ``invalid_request_error`` shows up in compatible servers too). The status each type stands
#: for decides whether the error is retryable: a request error (400) must not fall back like
#: an outage (529).
ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "api_error": 500,
    "server_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


#: ``Retry-After`` delay-seconds (RFC 9110, section 10.2.3): ASCII digits, nothing else
_DELAY_SECONDS = re.compile(r"[0-9]+")
#: ``retry-after-ms`` (OpenAI, Anthropic; no RFC): a plain decimal number
_MILLISECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP-date).

    Only what the headers' definitions allow is read, and only a finite, non-negative delay
    comes back; anything else (``inf``, ``nan``, ``1e400``, ``-1000``, a date no clock can
    hold) is ``None``, as if the header were absent: ``asyncio.sleep(inf)`` never returns.
    A date already past means now (``0.0``).
    """
    if not headers:
        return None
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    milliseconds = lowered.get("retry-after-ms", "")
    if _MILLISECONDS.fullmatch(milliseconds):
        delay = float(milliseconds) / 1000
        if math.isfinite(delay):
            return delay
    value = lowered.get("retry-after", "")
    if _DELAY_SECONDS.fullmatch(value):
        try:
            return float(int(value))
        except (OverflowError, ValueError):  # more digits than a float (or int()) takes
            return None
    return _seconds_until(value) if value else None


def _seconds_until(http_date: str) -> float | None:
    """Seconds from now until an HTTP-date, ``0.0`` if it is past, ``None`` if it is none."""
    parsed = email.utils.parsedate_tz(http_date)
    if parsed is None:
        return None
    try:
        return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)
    except (OverflowError, ValueError):
        return None


def error_for_status(
    status: int | None,
    message: str,
    *,
    provider: str,
    model: str,
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """The llmring error for an HTTP ``status`` (``None``: a failure without one)."""
    kwargs: dict[str, Any] = {"provider": provider, "model": model, "status_code": status}
    if status in (401, 403):
        return ProviderAuthenticationError(f"{message}; check the provider's API key", **kwargs)
    if status == 404:
        return ModelNotFoundError(message, **kwargs)
    if status == 408:
        return ProviderTimeoutError(message, **kwargs)
    if status == 429:
        return ProviderRateLimitError(message, retry_after=parse_retry_after(headers), **kwargs)
    return ProviderResponseError(message, **kwargs)


def undecodable_body(exc: BaseException, *, provider: str, model: str) -> ProviderError:
    """A body the HTTP client could not decode (``content-encoding: gzip`` with corrupt
    bytes...): the provider's response is malformed, so retryable like a 5xx."""
    return ProviderResponseError(
        f"the response body could not be decoded: {exc}", provider=provider, model=model
    )


def inband_error(payload: Any, *, provider: str, model: str) -> ProviderError:
    """An error event sent inside a 200 stream: ``{"error": {...}}`` or ``{"type": "error", ...}``.

    Uses the payload's own status when it has one (``status_code``/``code``); an overloaded or
    server error without a status is retryable, like a 5xx.
    """
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if not isinstance(error, dict):
        return ProviderResponseError(f"in-stream error: {error}", provider=provider, model=model)
    message = str(error.get("message") or error.get("type") or "error event from the provider")
    status = error.get("status_code") or error.get("status")
    if not isinstance(status, int):
        status = error.get("code") if isinstance(error.get("code"), int) else None
    if status is None:
        status = ERROR_TYPE_STATUS.get(str(error.get("type"))) or ERROR_TYPE_STATUS.get(
            str(error.get("code"))
        )
    words = [
        str(w)
        for w in (error.get("type"), error.get("code"))
        if w and not isinstance(w, int) and str(w) not in message
    ]
    label = f" ({', '.join(words)})" if words else ""
    return error_for_status(
        status, f"in-stream error: {message}{label}", provider=provider, model=model
    )


ErrorMapper = Callable[..., "ProviderError | None"]


@contextmanager
def mapped_errors(map_error: ErrorMapper, *, provider: str, model: str) -> Iterator[None]:
    """Raise ``map_error(exc)`` for an SDK exception; re-raise anything the adapter's mapper
    does not claim (``None``). Wraps an adapter's whole stream, so errors are mapped in one
    place; closing or cancelling the stream passes straight through. A ``FrameError`` (bytes
    or a frame that are not what the provider's API documents) is a ``ProviderResponseError``
    for every adapter: retryable before any content, like a 5xx.

    The SDK exception never travels on: it holds the response body, which may echo the key.
    The mapped error's ``__cause__`` and ``__context__`` are a scrubbed stand-in for it (see
    :mod:`llmring._chain`), and an error passed through has its chain scrubbed the same way.
    """
    try:
        yield
    except FrameError as exc:
        raise_from(ProviderResponseError(str(exc), provider=provider, model=model), exc)
    except Exception as exc:
        mapped = map_error(exc, provider=provider, model=model)
        if mapped is None:
            scrub_chain(exc)
            raise
        raise_from(mapped, exc)
