"""A stream of :class:`StreamChunk` made from a fixed text: a test double, no provider needed."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator

from llmring.providers.mock import count_tokens
from llmring.schemas import StreamChunk

__all__ = ["create_mock_stream"]


def create_mock_stream(
    text: str, chunk_size: int = 10, delay: float = 0.1, *, model: str = "mock-stream"
) -> AsyncGenerator[StreamChunk, None]:
    """Stream ``text`` in pieces of ``chunk_size`` characters, ``delay`` seconds before each.

    The last chunk is the terminal one of the stream contract: ``delta=""``,
    ``finish_reason="stop"`` and usage counted by the mock provider's tokenizer
    (``prompt_tokens`` 0). Empty ``text`` gives the terminal chunk alone. The arguments are
    checked here, before any iteration; the returned async generator has ``aclose()``.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(delay, (int, float)) or not math.isfinite(delay) or delay < 0:
        raise ValueError(f"delay must be a finite number of seconds >= 0, got {delay!r}")
    return _chunks(text, chunk_size, float(delay), model)


async def _chunks(
    text: str, chunk_size: int, delay: float, model: str
) -> AsyncGenerator[StreamChunk, None]:
    for start in range(0, len(text), chunk_size):
        if delay:
            await asyncio.sleep(delay)
        yield StreamChunk(delta=text[start : start + chunk_size], model=model, provider="mock")
    completion = count_tokens(text)
    yield StreamChunk(
        delta="",
        model=model,
        provider="mock",
        finish_reason="stop",
        finish_reason_raw="stop",
        usage={"prompt_tokens": 0, "completion_tokens": completion, "total_tokens": completion},
    )
