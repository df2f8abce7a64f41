"""llmring's errors as OpenAI API errors: an HTTP status, headers and OpenAI's error JSON.

OpenAI's clients read ``{"error": {"message", "type", "param", "code"}}`` and raise by status
(the official SDK: ``NotFoundError`` for 404, ``RateLimitError`` for 429 after honouring
``Retry-After``...), so the status is what a client acts on. The mapping, most specific first:

=====================================================  ======================================
an unknown alias, provider or model                    404 ``model_not_found``
a rejected or missing provider key                     401 ``authentication_error``
the provider's 429                                     429 with ``Retry-After`` when it said
a provider that blamed the request (its 4xx)           400 ``invalid_request_error``
a request the provider cannot take (ConfigurationError) 400 ``invalid_request_error``
a broken lockfile or profile on the server             500 ``server_error``
a provider SDK that is not installed                   503 ``service_unavailable``
no answer in time (first chunk, idle, total deadline)  504 ``timeout``
the provider unreachable, failing or cut mid-stream    502 ``upstream_error``
anything else                                          500, with a fixed sentence
=====================================================  ======================================

Messages are llmring's, which are scrubbed of keys (``llmring._secrets``) and scrubbed again
here; an exception that is not an ``LLMRingError`` is never described to the client.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from llmring._secrets import redact
from llmring.exceptions import (
    AliasNotFoundError,
    ConfigurationError,
    LLMRingError,
    LockfileError,
    ModelNotFoundError,
    ProfileNotFoundError,
    ProviderAuthenticationError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    StreamInterruptedError,
)
from llmring.sse import INTERNAL_ERROR, public_error

__all__ = ["APIError", "api_error", "error_body", "status_for"]

_PARTIAL_NOTE = re.compile(r"; partial_response holds the \d+ characters received$")


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error JSON: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": redact(message), "type": type, "param": param, "code": code}}


@dataclass
class APIError(Exception):
    """An answer the gateway gives instead of a completion: status, OpenAI error fields and
    headers (``Retry-After``). ``param`` names the request field at fault, when one is."""

    status: int
    type: str
    message: str
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.message = redact(self.message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def invalid_request(message: str, param: str | None = None) -> APIError:
    """A 400 for a request body the gateway will not map, naming the field at fault."""
    return APIError(400, "invalid_request_error", message, param=param)


def _retry_after(exc: ProviderRateLimitError) -> dict[str, str]:
    # HTTP's Retry-After is whole seconds; round up so that a client waiting it is not early
    if exc.retry_after is None:
        return {}
    return {"retry-after": str(math.ceil(exc.retry_after))}


def _kind(exc: LLMRingError) -> tuple[int, str, str | None]:
    """``(status, type, code)`` for ``exc``; the order matters (most specific first)."""
    if isinstance(exc, (AliasNotFoundError, ProviderNotFoundError, ModelNotFoundError)):
        return 404, "invalid_request_error", "model_not_found"
    if isinstance(exc, ProviderAuthenticationError):
        return 401, "authentication_error", "upstream_authentication"
    if isinstance(exc, ProviderRateLimitError):
        return 429, "rate_limit_error", "rate_limit_exceeded"
    if isinstance(exc, ProviderTimeoutError):
        return 504, "timeout_error", "timeout"
    if isinstance(exc, ProviderUnavailableError):
        return 503, "server_error", "service_unavailable"
    if isinstance(exc, ProviderResponseError) and 400 <= (exc.status_code or 0) < 500:
        return 400, "invalid_request_error", "upstream_rejected_request"
    if isinstance(exc, (LockfileError, ProfileNotFoundError)):
        return 500, "server_error", "gateway_configuration"
    if isinstance(exc, ConfigurationError):
        return 400, "invalid_request_error", "unsupported_request"
    return 502, "server_error", "upstream_error"  # ProviderError, StreamInterruptedError...


def status_for(exc: LLMRingError) -> tuple[int, dict[str, str]]:
    """The HTTP status and headers that answer ``exc`` (``Retry-After`` on a 429)."""
    status = _kind(exc)[0]
    headers = _retry_after(exc) if isinstance(exc, ProviderRateLimitError) else {}
    return status, headers


def api_error(exc: Exception) -> APIError:
    """``exc`` as the :class:`APIError` the client receives; never a secret, never a
    description of an exception that llmring did not raise on purpose (that one is logged)."""
    if isinstance(exc, APIError):
        return exc
    if not isinstance(exc, LLMRingError):
        public_error(exc)  # logs it
        return APIError(500, "server_error", INTERNAL_ERROR, code="internal_error")
    status, type_, code = _kind(exc)
    _, headers = status_for(exc)
    # a ProviderError's str() names provider:model and the alias's other attempts
    message = str(exc) if isinstance(exc, ProviderError) else exc.message
    if isinstance(exc, StreamInterruptedError):
        # where a Python caller finds the text (llmring._stream.interruption): an HTTP client
        # has no such attribute, and already holds the text it was streamed
        message = _PARTIAL_NOTE.sub("", message)
    return APIError(status, type_, message, code=code, headers=headers)
