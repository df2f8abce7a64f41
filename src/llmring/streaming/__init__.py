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

from typing import TYPE_CHECKING

from llmring import _lazy

# the public names, each once (llmring/_lazy.py reads this block)
if TYPE_CHECKING:
    from llmring.streaming._chunking import Chunker as Chunker
    from llmring.streaming._chunking import ParagraphChunker as ParagraphChunker
    from llmring.streaming._chunking import SentenceChunker as SentenceChunker
    from llmring.streaming._chunking import WordChunker as WordChunker
    from llmring.streaming._chunking import get_chunker as get_chunker
    from llmring.streaming._events import ChunkEvent as ChunkEvent
    from llmring.streaming._events import CompletedEvent as CompletedEvent
    from llmring.streaming._events import ErrorEvent as ErrorEvent
    from llmring.streaming._events import FullValidationEvent as FullValidationEvent
    from llmring.streaming._events import QuickCheckEvent as QuickCheckEvent
    from llmring.streaming._events import StreamingDoneEvent as StreamingDoneEvent
    from llmring.streaming._events import StreamingEvent as StreamingEvent
    from llmring.streaming._manager import ManagedStream as ManagedStream
    from llmring.streaming._manager import StreamingManager as StreamingManager
    from llmring.streaming._mock_stream import create_mock_stream as create_mock_stream
    from llmring.streaming._requirements import Backend as Backend
    from llmring.streaming._requirements import Context as Context
    from llmring.streaming._requirements import Forbidden as Forbidden
    from llmring.streaming._requirements import MaxLength as MaxLength
    from llmring.streaming._requirements import PartialValidationResult as PartialValidationResult
    from llmring.streaming._requirements import Requirement as Requirement
    from llmring.streaming._requirements import ValidationResult as ValidationResult
    from llmring.streaming._response import StreamingResponse as StreamingResponse
    from llmring.streaming._response import collect_stream as collect_stream
    from llmring.streaming._response import stream_to_string as stream_to_string
    from llmring.streaming._session import ChatSession as ChatSession
    from llmring.streaming._session import SessionBusyError as SessionBusyError
    from llmring.streaming._thunks import GenerationClosedError as GenerationClosedError
    from llmring.streaming._thunks import GenerationErrors as GenerationErrors
    from llmring.streaming._thunks import GenerationThunk as GenerationThunk
    from llmring.streaming._thunks import generate as generate
    from llmring.streaming._thunks import wait_for_all as wait_for_all
    from llmring.streaming._validation import ChunkedStream as ChunkedStream
    from llmring.streaming._validation import stream_with_chunking as stream_with_chunking

_lazy.install(__name__)
