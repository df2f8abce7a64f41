"""Which keyword arguments of a bot become part of a request: an explicit split.

A bot's own settings (``stream_target``, ``memory``, ``mock_response``...) are named
parameters of its constructor and never reach a provider. The remaining keywords, at
construction or per call, are either fields of :class:`~llmring.schemas.LLMRequest`
(``max_tokens``, ``timeout``, ``response_format``...), or one of the generation parameters
in :data:`PROVIDER_PARAMS`, passed on in ``extra_params``. Anything else is refused with a
``TypeError``: a misspelt or foreign bot setting (``stram_target``, LlamaBot's ``api_key``)
must not travel silently in a request body. A parameter outside the list still reaches the
provider when it is named explicitly: ``extra_params={"logit_bias": {...}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmring.schemas import LLMRequest

__all__ = ["PROVIDER_PARAMS", "REQUEST_OPTIONS", "split_options"]

#: keyword arguments that are fields of the request itself
REQUEST_OPTIONS = frozenset(LLMRequest.model_fields) - {"model", "messages"}

#: generation parameters a bot passes on (in ``extra_params``) when given as bare keywords
PROVIDER_PARAMS = frozenset(
    {
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "metadata",
        "min_p",
        "parallel_tool_calls",
        "presence_penalty",
        "reasoning_effort",
        "repetition_penalty",
        "seed",
        "service_tier",
        "stop_sequences",
        "think",
        "thinking",
        "top_k",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
    }
)

_KEYS_HINT = (
    "llmring reads API keys from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
    "GEMINI_API_KEY...) or a lockfile [providers.<name>] api_key_env, never from a bot"
)


def split_options(owner: str, keywords: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``keywords`` as (request options, extra params); ``TypeError`` names any other key.

    Bare provider parameters win over the same key in an explicit ``extra_params``.
    """
    options: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in keywords.items():
        if key == "extra_params":
            extra = {**dict(value or {}), **extra}
        elif key in REQUEST_OPTIONS:
            options[key] = value
        elif key in PROVIDER_PARAMS:
            extra[key] = value
        else:
            raise TypeError(_refusal(owner, key))
    return options, extra


def _refusal(owner: str, key: str) -> str:
    # the value is never quoted: it may be a key
    if key == "api_key":
        return f"{owner} takes no api_key: {_KEYS_HINT}"
    return (
        f"{owner} got an unexpected keyword argument {key!r}. Bots pass on request options "
        f"({', '.join(sorted(REQUEST_OPTIONS))}) and the generation parameters "
        f"{', '.join(sorted(PROVIDER_PARAMS))}; give any other provider parameter "
        f"explicitly: extra_params={{{key!r}: ...}}"
    )
