"""The anthropic SDK's exceptions (and its HTTP client's) → llmring's error tree, in one place."""

from __future__ import annotations

import anthropic

from llmring.exceptions import ProviderAuthenticationError, ProviderError
from llmring.providers._stainless import map_sdk_error, status_message

__all__ = ["map_error"]


def _message(exc: anthropic.APIStatusError) -> str:
    return status_message(exc, with_type=True)  # the type says "overloaded_error"...


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The llmring error for ``exc``, or ``None`` when it is not the provider's doing."""
    if isinstance(exc, anthropic.CredentialsError):
        return ProviderAuthenticationError(
            f"the SDK could not load credentials: {exc}", provider=provider, model=model
        )
    return map_sdk_error(
        exc, anthropic, anthropic.AnthropicError, _message, provider=provider, model=model
    )
