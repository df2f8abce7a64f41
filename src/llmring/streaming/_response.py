"""Accumulating a stream of :class:`StreamChunk` into one :class:`StreamingResponse`."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterable, Mapping
from typing import Any

from llmring._resource import iterating
from llmring._text import TextPieces
from llmring.schemas import FinishReason, StreamChunk, ToolCallDict, Usage

__all__ = ["StreamingResponse", "collect_stream", "stream_to_string"]

_PREVIEW = 40  # characters of text shown by repr()


class StreamingResponse:
    """Everything a stream delivered: text, chunks, usage, tool calls and timing.

    Feed it with :meth:`add_chunk` (or let :func:`collect_stream` do it). ``chunk_count``
    counts every chunk added, the terminal one included; ``chunks`` keeps them only when
    ``keep_chunks`` is true; without them a long stream costs about its text's size. ``usage``,
    ``finish_reason``, ``tool_calls`` and ``metadata`` come from the terminal chunk.
    """

    def __init__(self, stream_id: str | None = None, *, keep_chunks: bool = True) -> None:
        self.stream_id = stream_id if stream_id is not None else uuid.uuid4().hex
        self.model: str | None = None
        self.provider: str | None = None
        self._keep_chunks = keep_chunks
        self._text = TextPieces()  # O(1) per delta, memory near the text's own size
        self._reasoning = TextPieces()
        self._chunks: list[StreamChunk] = []
        self._count = 0
        self._started = time.monotonic()
        self._first_at: float | None = None
        self._ended_at: float | None = None
        self._terminal: StreamChunk | None = None

    def add_chunk(self, chunk: StreamChunk) -> None:
        """Record one chunk; ``ValueError`` after the terminal chunk (the stream has ended)."""
        if self._terminal is not None:
            raise ValueError(f"stream {self.stream_id} already ended with its terminal chunk")
        now = time.monotonic()
        if self._first_at is None:
            self._first_at = now
        self._count += 1
        if self._keep_chunks:
            self._chunks.append(chunk)
        if chunk.delta:
            self._text.add(chunk.delta)
        if chunk.reasoning:
            self._reasoning.add(chunk.reasoning)
        self.model = chunk.model or self.model
        self.provider = chunk.provider or self.provider
        if chunk.is_terminal:
            self._terminal, self._ended_at = chunk, now

    # -- text -----------------------------------------------------------------------------

    @property
    def complete_text(self) -> str:
        """All text deltas so far, joined."""
        return self._text.text()

    @property
    def reasoning(self) -> str:
        """All reasoning text so far, joined (``""`` when the model streamed none)."""
        return self._reasoning.text()

    def __str__(self) -> str:
        return self.complete_text

    def __repr__(self) -> str:
        text = self.complete_text
        preview = text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."
        return (
            f"<StreamingResponse {self.stream_id[:8]} chunks={self._count} "
            f"chars={len(text)} finish_reason={self.finish_reason!r} text={preview!r}>"
        )

    # -- chunks and the terminal chunk ----------------------------------------------------

    @property
    def chunks(self) -> list[StreamChunk]:
        """The chunks added, in order; always empty when ``keep_chunks`` is false."""
        return self._chunks

    @property
    def chunk_count(self) -> int:
        return self._count

    @property
    def is_complete(self) -> bool:
        """True once the terminal chunk has been added."""
        return self._terminal is not None

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._terminal.finish_reason if self._terminal else None

    @property
    def usage(self) -> Usage | None:
        return self._terminal.usage if self._terminal else None

    @property
    def tool_calls(self) -> list[ToolCallDict] | None:
        """The complete tool calls (OpenAI shape) of the terminal chunk, or ``None``."""
        return self._terminal.tool_calls if self._terminal else None

    @property
    def metadata(self) -> Mapping[str, Any] | None:
        return self._terminal.metadata if self._terminal else None

    # -- timing ---------------------------------------------------------------------------

    @property
    def first_chunk_latency(self) -> float | None:
        """Seconds from creating this response to the first chunk; ``None`` before it."""
        return None if self._first_at is None else self._first_at - self._started

    @property
    def duration(self) -> float | None:
        """Seconds from the first chunk to the terminal one; ``None`` until the terminal."""
        if self._ended_at is None or self._first_at is None:
            return None
        return self._ended_at - self._first_at


async def collect_stream(
    stream: AsyncIterable[StreamChunk],
    *,
    stream_id: str | None = None,
    keep_chunks: bool = True,
) -> StreamingResponse:
    """Consume ``stream`` into a :class:`StreamingResponse`; the stream is closed on every exit.

    Errors of the stream (``StreamInterruptedError`` and the like) propagate unchanged.
    """
    response = StreamingResponse(stream_id, keep_chunks=keep_chunks)
    async with iterating(stream) as chunks:
        async for chunk in chunks:
            response.add_chunk(chunk)
    return response


async def stream_to_string(stream: AsyncIterable[StreamChunk]) -> str:
    """The whole text of ``stream``; the stream is closed on every exit."""
    return (await collect_stream(stream, keep_chunks=False)).complete_text
