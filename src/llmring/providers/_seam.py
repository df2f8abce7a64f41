"""The seam's data: the events an adapter yields and the config an adapter is made from.

Kept apart from the adapter template (``base``), which loads the stream machinery (framing,
error mapping): the facade and the assembler need only these names, so creating an
``LLMRing`` does not load what only a stream uses. ``base`` re-exports all of them.

Event vocabulary (slotted dataclasses, not frozen: one is made per chunk, and a frozen
dataclass's ``__init__`` costs about twice as much):

================== ===========================================================================
``TextDelta``       a piece of answer text (empty pieces may be yielded; they are dropped)
``ReasoningDelta``  a piece of reasoning / thinking text
``ToolCallFragment`` a piece of one tool call, keyed by ``index`` (``id``/``name`` on the first)
``UsageReport``     token counts under llmring's names; fields merge, the last value wins
``ModelReport``     the concrete model name the provider says answered
``Finish``          the finish reason, normalised and raw
``StreamEnd``       the provider's end-of-stream marker was seen; without it the stream counts
                    as interrupted, never as a silent success. Yielded by the base only.
================== ===========================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from llmring.schemas import FinishReason, StreamTimeouts, Usage

__all__ = [
    "Finish",
    "ModelReport",
    "ProviderConfig",
    "ReasoningDelta",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCallFragment",
    "UsageReport",
    "add_counts",
]


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class ToolCallFragment:
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    #: provider data that must travel with the call (e.g. Gemini's ``thought_signature``)
    extra: dict[str, Any] | None = None


@dataclass(slots=True, frozen=True)
class UsageReport:
    """Token counts: ``prompt_tokens``, ``completion_tokens`` and, when reported,
    ``total_tokens``, ``cached_tokens``, ``cache_creation_tokens``, ``reasoning_tokens``.

    Values are what the provider sent (``None`` is left out), whatever their type: the
    assembler checks them once, when it finalises the usage, so an adapter never filters or
    defaults them itself.
    """

    usage: Usage


def add_counts(*parts: Any) -> Any:
    """A count the provider reports in parts (Anthropic's uncached and cached prompt tokens,
    Gemini's prompt and tool-use prompt tokens), summed. A part that is not a non-negative
    integer is returned instead of the sum, so that it reaches the assembler's check rather
    than hide inside a plausible total (``-5 + 100``)."""
    for part in parts:
        if type(part) is not int or part < 0:
            return part
    return sum(parts)


@dataclass(slots=True, frozen=True)
class ModelReport:
    model: str


@dataclass(slots=True, frozen=True)
class Finish:
    reason: FinishReason
    raw: str | None


@dataclass(slots=True, frozen=True)
class StreamEnd:
    pass


StreamEvent = (
    TextDelta | ReasoningDelta | ToolCallFragment | UsageReport | ModelReport | Finish | StreamEnd
)


@dataclass(frozen=True)
class ProviderConfig:
    """How to reach one provider: its name, the adapter type, endpoint, key source, defaults.

    Built from the registry's defaults and the lockfile's ``[providers.<name>]`` table. It holds
    the *name* of the key's environment variable, never the key; :meth:`api_key` reads it when
    a client is made.
    """

    name: str
    type: str
    base_url: str | None = None
    key_envs: tuple[str, ...] = ()
    key_required: bool = False
    timeouts: StreamTimeouts = field(default_factory=StreamTimeouts)
    #: retries the SDK itself makes on 429/5xx before an error reaches the facade (which may
    #: then fall back to the alias's next model); 0 by default so fallback is immediate
    max_retries: int = 0
    #: the ``genai-prices`` provider this endpoint bills as (``[providers.<name>] priced_as``)
    priced_as: str | None = None

    def api_key(self) -> str | None:
        """The key from the first of ``key_envs`` that is set, or ``None``."""
        for env in self.key_envs:
            value = os.environ.get(env)
            if value:
                return value
        return None

    def credentials_problem(self) -> str | None:
        """Why this provider cannot be used now (a missing key), or ``None`` when it can."""
        if self.key_required and self.api_key() is None:
            names = " or ".join(self.key_envs)
            return f"{names} is not set"
        return None


def pool_limits(httpx_module: Any) -> Any:
    """The connection-pool limits of every provider client: no cap on open connections (each
    stream holds one for its whole length, so a cap of N makes stream N+1 wait for another to
    end, with no deadline but its own; the caller bounds concurrency, e.g. ``llmring serve
    --max-streams``), and up to 100 idle ones kept for reuse. ``httpx_module`` is the httpx
    the SDK uses (``httpx2`` for openai, anthropic and google-genai, ``httpx`` for ollama)."""
    return httpx_module.Limits(max_connections=None, max_keepalive_connections=100)


def aiohttp_pool_limits(httpx_module: Any) -> Any:
    """:func:`pool_limits` for the SDKs' aiohttp transport (``DefaultAioHttpClient``), which
    gives ``max_connections`` to aiohttp's connector as its ``limit``: there 0 is no limit,
    while ``None`` would leave aiohttp's own cap of 100. Idle connections are kept
    ``keepalive_expiry`` seconds (aiohttp does not count them)."""
    return httpx_module.Limits(max_connections=0, max_keepalive_connections=100)
