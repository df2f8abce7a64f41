"""The streaming toolkit, built on ``LLMRing.chat_stream`` (docs/streaming.md).

* accumulation and test doubles: :class:`StreamingResponse`, :func:`collect_stream`,
  :func:`stream_to_string`, :func:`create_mock_stream`;
* deadlines and interruption: :class:`StreamingManager`;
* parallel generation: :func:`generate` (also ``LLMRing.generate``) returns a
  :class:`GenerationThunk` already running; :func:`wait_for_all`; :class:`ChatSession` for
  multi-turn use;
* chunked streaming with validation: :func:`stream_with_chunking`, the chunkers,
  :class:`Requirement` and the typed events.

Names are imported on first use, so ``import llmring.streaming`` costs almost nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmring.streaming._chunking import (
        Chunker,
        ParagraphChunker,
        SentenceChunker,
        WordChunker,
        get_chunker,
    )
    from llmring.streaming._events import (
        ChunkEvent,
        CompletedEvent,
        ErrorEvent,
        FullValidationEvent,
        QuickCheckEvent,
        StreamingDoneEvent,
        StreamingEvent,
    )
    from llmring.streaming._manager import ManagedStream, StreamingManager
    from llmring.streaming._mock_stream import create_mock_stream
    from llmring.streaming._requirements import (
        Backend,
        Context,
        Forbidden,
        MaxLength,
        PartialValidationResult,
        Requirement,
        ValidationResult,
    )
    from llmring.streaming._response import StreamingResponse, collect_stream, stream_to_string
    from llmring.streaming._session import ChatSession, SessionBusyError
    from llmring.streaming._thunks import (
        GenerationClosedError,
        GenerationErrors,
        GenerationThunk,
        generate,
        wait_for_all,
    )
    from llmring.streaming._validation import ChunkedStream, stream_with_chunking

#: where each public name lives
_WHERE = {
    "StreamingResponse": "_response",
    "collect_stream": "_response",
    "stream_to_string": "_response",
    "create_mock_stream": "_mock_stream",
    "StreamingManager": "_manager",
    "ManagedStream": "_manager",
    "GenerationThunk": "_thunks",
    "generate": "_thunks",
    "wait_for_all": "_thunks",
    "GenerationErrors": "_thunks",
    "GenerationClosedError": "_thunks",
    "ChatSession": "_session",
    "SessionBusyError": "_session",
    "Chunker": "_chunking",
    "SentenceChunker": "_chunking",
    "WordChunker": "_chunking",
    "ParagraphChunker": "_chunking",
    "get_chunker": "_chunking",
    "ChunkEvent": "_events",
    "QuickCheckEvent": "_events",
    "StreamingDoneEvent": "_events",
    "FullValidationEvent": "_events",
    "CompletedEvent": "_events",
    "ErrorEvent": "_events",
    "StreamingEvent": "_events",
    "Requirement": "_requirements",
    "PartialValidationResult": "_requirements",
    "ValidationResult": "_requirements",
    "MaxLength": "_requirements",
    "Backend": "_requirements",
    "Context": "_requirements",
    "Forbidden": "_requirements",
    "ChunkedStream": "_validation",
    "stream_with_chunking": "_validation",
}

__all__ = [
    "Backend",
    "ChatSession",
    "ChunkEvent",
    "ChunkedStream",
    "Chunker",
    "CompletedEvent",
    "Context",
    "ErrorEvent",
    "Forbidden",
    "FullValidationEvent",
    "GenerationClosedError",
    "GenerationErrors",
    "GenerationThunk",
    "ManagedStream",
    "MaxLength",
    "ParagraphChunker",
    "PartialValidationResult",
    "QuickCheckEvent",
    "Requirement",
    "SentenceChunker",
    "SessionBusyError",
    "StreamingDoneEvent",
    "StreamingEvent",
    "StreamingManager",
    "StreamingResponse",
    "ValidationResult",
    "WordChunker",
    "collect_stream",
    "create_mock_stream",
    "generate",
    "get_chunker",
    "stream_to_string",
    "stream_with_chunking",
    "wait_for_all",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'llmring.streaming' has no attribute {name!r}")
    value = getattr(import_module(f"llmring.streaming.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
