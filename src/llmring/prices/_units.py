"""llmring's normalised usage, read by token class: for ``genai-prices`` and for the lockfile's
own prices.

llmring's ``prompt_tokens`` is the whole prompt (cache reads and writes, and Gemini's
``toolUsePromptTokenCount``, included), ``completion_tokens`` the whole output (thinking
included), as ``genai-prices``' ``input_tokens`` and ``output_tokens`` are: its finer classes
are parts of those two, so each maps one to one.
"""

from __future__ import annotations

from llmring.lockfile._model import Price
from llmring.schemas import Usage

__all__ = ["PER", "genai_usage", "lockfile_usd"]

#: prices are per million tokens
PER = 1_000_000

#: llmring's usage key → ``genai-prices``' usage key
_GENAI_KEYS = (
    ("prompt_tokens", "input_tokens"),
    ("completion_tokens", "output_tokens"),
    ("cached_tokens", "cache_read_tokens"),
    ("cache_creation_tokens", "cache_write_tokens"),
    ("cache_creation_1h_tokens", "cache_write_1h_tokens"),
    ("reasoning_tokens", "output_reasoning_tokens"),
    ("web_search_requests", "web_searches"),
)


def genai_usage(usage: Usage) -> dict[str, int]:
    """``usage`` under ``genai-prices``' names (only the counts that were reported)."""
    counts: dict[str, int] = {}
    for ours, theirs in _GENAI_KEYS:
        value = usage.get(ours)
        if isinstance(value, int):
            counts[theirs] = value
    return counts


def lockfile_usd(price: Price, usage: Usage) -> float:
    """The cost of ``usage`` at a lockfile price: uncached prompt tokens at ``input``, cache
    reads at ``cache_read``, cache writes at ``cache_write`` (both default to ``input``),
    output (thinking included) at ``output``."""
    prompt = usage.get("prompt_tokens", 0)
    read = usage.get("cached_tokens", 0)
    written = usage.get("cache_creation_tokens", 0)
    uncached = max(prompt - read - written, 0)
    cache_read = price.input if price.cache_read is None else price.cache_read
    cache_write = price.input if price.cache_write is None else price.cache_write
    total = (
        uncached * price.input
        + read * cache_read
        + written * cache_write
        + usage.get("completion_tokens", 0) * price.output
    )
    return total / PER
