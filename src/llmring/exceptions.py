"""The one error tree of llmring.

Every error llmring raises on purpose is an ``LLMRingError``::

    LLMRingError
    ├── ConfigurationError                 bad set-up: fix a file, a name or an environment variable
    │   ├── LockfileError
    │   │   ├── LockfileNotFoundError      a lockfile path that does not exist
    │   │   └── LockfileParseError         malformed TOML or a wrong shape (names file, line, key)
    │   ├── ProfileNotFoundError           LLMRING_PROFILE / profile= names no profile
    │   └── AliasNotFoundError             unknown alias (with close matches)
    ├── ProviderError                      anything about one provider call
    │   │                                  (provider, model, status_code)
    │   ├── ProviderNotFoundError          unknown provider name (also a ConfigurationError)
    │   ├── ProviderUnavailableError       its SDK is not installed (with the pip command)
    │   ├── ProviderAuthenticationError    missing (skipped) or rejected (raised) credentials
    │   ├── ProviderRateLimitError         429, with ``retry_after`` seconds when the provider said
    │   ├── ProviderTimeoutError           no answer in time (before any content)
    │   ├── ProviderConnectionError        could not reach the endpoint
    │   ├── ProviderResponseError          5xx, overloaded, malformed or in-band error events
    │   └── ModelNotFoundError             404 / unknown model at the provider
    ├── StreamInterruptedError             the stream failed after content was delivered, or
    │                                      another task closed it (``partial_response``, ``usage``)
    └── StreamBusyError                    another task is already reading this stream (also a
                                           ``RuntimeError``)

``ProviderError.retryable`` says whether the facade may fall back to the next model of an alias
(only ever before the first content chunk). A missing SDK or key is set-up, so the next model
is tried; a key the provider rejected (401/403) is not: a broken production key must surface,
not be served quietly by the fallback. Messages are scrubbed of anything that looks like an
API key, and so are their chains: a foreign exception (an SDK's, which may hold a response
body that echoes the key) is never chained as it is, only as a scrubbed stand-in
(``llmring._chain.ScrubbedCause``). So an exception can be logged or shown as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmring._secrets import redact

if TYPE_CHECKING:
    from llmring._types import Usage

__all__ = [
    "AliasNotFoundError",
    "ConfigurationError",
    "LLMRingError",
    "LockfileError",
    "LockfileNotFoundError",
    "LockfileParseError",
    "ModelNotFoundError",
    "ProfileNotFoundError",
    "ProviderAuthenticationError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderNotFoundError",
    "ProviderRateLimitError",
    "ProviderResponseError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "StreamBusyError",
    "StreamInterruptedError",
]


class LLMRingError(Exception):
    """Root of every error llmring raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigurationError(LLMRingError):
    """The set-up is wrong: a lockfile, a name, an environment variable."""


class LockfileError(ConfigurationError):
    """Something about a lockfile; ``path`` names it."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class LockfileNotFoundError(LockfileError):
    """A lockfile path that was asked for does not exist."""


class LockfileParseError(LockfileError):
    """The lockfile is not valid TOML or not the expected shape.

    ``line`` is set for TOML syntax errors, ``key`` for the offending key when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message, path=path)
        self.line = line
        self.key = key


class ProfileNotFoundError(ConfigurationError):
    """The selected profile does not exist in the lockfile."""


class AliasNotFoundError(ConfigurationError):
    """The alias is bound in no profile that was searched; ``suggestions`` holds close matches."""

    def __init__(self, message: str, *, alias: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.alias = alias
        self.suggestions = suggestions or []


class ProviderError(LLMRingError):
    """A failure of one provider call.

    ``retryable`` tells the facade it may try the alias's next model (before any content only).
    ``attempts`` lists ``(model_ref, reason)`` for earlier candidates of the same alias that failed.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.attempts: list[tuple[str, str]] = []
        if retryable is not None:
            self.retryable = retryable

    @property
    def model_ref(self) -> str | None:
        if self.provider and self.model:
            return f"{self.provider}:{self.model}"
        return self.provider

    def __str__(self) -> str:
        parts = []
        if self.model_ref:
            parts.append(f"{self.model_ref}: ")
        parts.append(self.message)
        if self.status_code is not None and f"HTTP {self.status_code}" not in self.message:
            parts.append(f" (HTTP {self.status_code})")
        for ref, reason in self.attempts:
            parts.append(f"\n  also tried {ref}: {reason}")
        return "".join(parts)


class ProviderNotFoundError(ProviderError, ConfigurationError):
    """No provider of that name is known (built in or in the lockfile's ``[providers]``)."""


class ProviderUnavailableError(ProviderError):
    """The provider's SDK is not installed; the message holds the pip command."""

    retryable = True


class ProviderAuthenticationError(ProviderError):
    """Credentials are missing (its key variable is not set: ``retryable``, the alias's next
    model is tried) or were rejected by the provider (HTTP 401/403: not retryable, raised)."""

    retryable = False


class ProviderRateLimitError(ProviderError):
    """The provider answered 429; ``retry_after`` holds its advice in seconds when given."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderTimeoutError(ProviderError):
    """The provider did not answer in time, before any content was delivered."""

    retryable = True


class ProviderConnectionError(ProviderError):
    """The provider's endpoint could not be reached."""

    retryable = True


class ProviderResponseError(ProviderError):
    """The provider failed: 5xx, overloaded, a malformed stream or an in-band error event.

    Retryable unless the provider blamed the request (a 4xx status).
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        status = kwargs.get("status_code")
        kwargs.setdefault("retryable", status is None or status >= 500)
        super().__init__(message, **kwargs)


class ModelNotFoundError(ProviderError):
    """The provider does not know the model (HTTP 404 or equivalent)."""

    retryable = True


class StreamInterruptedError(LLMRingError):
    """The stream failed after content had been delivered, or another task closed it while it
    was being read; nothing was silently lost.

    ``partial_response`` is exactly the text delivered so far, ``usage`` whatever usage the
    provider had reported, and ``__cause__`` the underlying error (none for a close).
    """

    def __init__(
        self,
        message: str,
        *,
        partial_response: str = "",
        usage: Usage | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.partial_response = partial_response
        self.usage = usage
        self.provider = provider
        self.model = model


class StreamBusyError(LLMRingError, RuntimeError):
    """Another task is already reading this stream: a stream has one consumer at a time.

    Raised at once, instead of a hang or two readers splitting the chunks between them (anyio's
    ``BusyResourceError``). Also a ``RuntimeError``, which it was before it had a name.
    """
