"""Stop sequences: ``LLMRequest.stop``, sent once, under each provider's own name.

The request carries them in one field (``extra_params["stop"]`` is moved there when the request
is built); each payload builder sends it as its API names it: ``stop`` (Chat Completions),
``stop_sequences`` (Anthropic), ``generationConfig.stopSequences`` (Gemini), ``options.stop``
(Ollama). A provider's own spelling in ``extra_params`` as well would silently win over the
field, or lose to it, so the two together are refused.
"""

from __future__ import annotations

from llmring.exceptions import ConfigurationError
from llmring.schemas import LLMRequest

__all__ = ["stop_sequences"]


def stop_sequences(request: LLMRequest, provider: str, *native: str) -> list[str] | None:
    """``request.stop``; ``ConfigurationError`` when ``extra_params`` sets it too under one of
    the ``native`` names ``provider``'s API reads."""
    if request.stop is not None:
        for name in native:
            if name in request.extra_params:
                raise ConfigurationError(
                    f"stop sequences are set twice for {provider}, in stop and "
                    f"extra_params[{name!r}]: set them once, in stop"
                )
    return request.stop
