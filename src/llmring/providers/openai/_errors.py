"""The openai SDK's exceptions (and its HTTP client's) → llmring's error tree, in one place."""

from __future__ import annotations

import openai

from llmring.exceptions import ProviderError
from llmring.providers._stainless import map_sdk_error, status_message

__all__ = ["map_error"]


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The llmring error for ``exc``, or ``None`` when it is not the provider's doing."""
    return map_sdk_error(
        exc, openai, openai.OpenAIError, status_message, provider=provider, model=model
    )
