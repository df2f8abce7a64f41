"""How ``llmring chat`` prints a stream: the reply on stdout, everything else on stderr.

Text mode writes the reply as it arrives and, while a reasoning model thinks, its reasoning on
stderr (dimmed when stderr is a terminal), so the wait is visible but ``> file`` and ``| cmd``
still receive only the reply. JSON mode writes one object per chunk, reasoning included.
"""

from __future__ import annotations

import json
import os
import sys
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from llmring.cli._common import err, out

if TYPE_CHECKING:
    from llmring.schemas import StreamChunk

__all__ = ["JsonView", "TextView", "View"]

_DIM, _RESET = "\x1b[2m", "\x1b[0m"


class View(ABC):
    """Prints one stream's chunks as they arrive."""

    @abstractmethod
    def show(self, chunk: StreamChunk) -> None: ...

    def end_lines(self) -> None:
        """End any partial line, so that what follows (an error) starts on its own line."""


class JsonView(View):
    def show(self, chunk: StreamChunk) -> None:
        out(json.dumps(chunk.model_dump(mode="json", exclude_none=True)))


class TextView(View):
    """The reply on stdout; reasoning (unless hidden) and the summary on stderr."""

    def __init__(self, *, reasoning: bool) -> None:
        self._reasoning = reasoning
        self._dim = reasoning and _styled(sys.stderr)
        self._text_open = False  # reply text written, no newline yet
        self._reasoning_open = False  # reasoning written on stderr, no newline yet

    def show(self, chunk: StreamChunk) -> None:
        if chunk.reasoning and self._reasoning:
            self._think(chunk.reasoning)
        if chunk.delta:
            self._end_reasoning()
            out(chunk.delta, end="")
            self._text_open = True
        elif chunk.is_terminal:
            self.end_lines()
            for call in chunk.tool_calls or []:
                function = call["function"]
                out(f"tool call {call['id']}: {function['name']}({function['arguments']})")
            err(summary(chunk))

    def end_lines(self) -> None:
        self._end_reasoning()
        if self._text_open:
            self._text_open = False
            out()

    def _think(self, text: str) -> None:
        sys.stderr.write(f"{_DIM}{text}{_RESET}" if self._dim else text)
        sys.stderr.flush()
        self._reasoning_open = True

    def _end_reasoning(self) -> None:
        if self._reasoning_open:
            self._reasoning_open = False
            err("")


def _styled(stream: Any) -> bool:
    """ANSI styles only for a terminal, and never under NO_COLOR (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def summary(chunk: StreamChunk) -> str:
    """The terminal chunk as one status line: model, finish, usage, timing, fallbacks."""
    usage = chunk.usage or {}
    metadata: dict[str, Any] = dict(chunk.metadata or {})
    parts = [f"[{chunk.provider}:{chunk.model}] finish={chunk.finish_reason}"]
    if usage:
        parts.append(
            f"tokens in={usage.get('prompt_tokens')} out={usage.get('completion_tokens')} "
            f"total={usage.get('total_tokens')}"
        )
        if "cost" in usage:
            parts.append(f"cost ${usage['cost']:.6f}")
    else:
        parts.append("no usage reported")
    first = metadata.get("first_chunk_latency")
    if first is not None:
        parts.append(f"first chunk {first * 1000:.0f} ms")
    if metadata.get("duration") is not None:
        parts.append(f"total {metadata['duration'] * 1000:.0f} ms")
    for attempt in metadata.get("failed_attempts", []):
        parts.append(f"fell back from {attempt['model']} ({attempt['error']})")
    return " | ".join(parts)
