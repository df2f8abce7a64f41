"""The typed events of :meth:`ChunkedStream.events` (docs/validation.md).

A run yields, in order::

    for each chunk:  QuickCheckEvent (when there are requirements), then ChunkEvent if it passed
    on success:      StreamingDoneEvent, FullValidationEvent
    on an exception: ErrorEvent
    always last:     CompletedEvent

Every event is a frozen dataclass with a ``kind`` (a ``Literal``, handy for JSON) and a
``timestamp`` (``time.time()`` when it was produced). Names and fields are mellea's
(``chunk_index``, ``passed``, ``results``, ...), so its ``match`` statements run unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from llmring.streaming._requirements import PartialValidationResult, ValidationResult

__all__ = [
    "ChunkEvent",
    "CompletedEvent",
    "ErrorEvent",
    "EventKind",
    "FullValidationEvent",
    "Outcome",
    "QuickCheckEvent",
    "StreamingDoneEvent",
    "StreamingEvent",
]

EventKind = Literal[
    "chunk", "quick_check", "streaming_done", "full_validation", "error", "completed"
]

#: how a run ended: every check passed; a check on a chunk failed (generation was stopped); a
#: check on the full text failed; an exception (from the source or a requirement) ended it
Outcome = Literal["passed", "chunk_check_failed", "full_check_failed", "error"]


@dataclass(frozen=True)
class StreamingEvent:
    """Base class of every event."""

    kind: ClassVar[EventKind]
    timestamp: float = field(default_factory=time.time, kw_only=True, compare=False, repr=False)


@dataclass(frozen=True)
class ChunkEvent(StreamingEvent):
    """A chunk that passed every check on its way to the consumer (``chunk_index`` counts
    from 0)."""

    kind: ClassVar[EventKind] = "chunk"
    text: str
    chunk_index: int

    @property
    def index(self) -> int:
        """``chunk_index`` (llmring's earlier name)."""
        return self.chunk_index


@dataclass(frozen=True)
class QuickCheckEvent(StreamingEvent):
    """The requirements' verdicts on one chunk, before the chunk is released: ``results`` in
    requirement order (each names its ``requirement``; after a failure, only the verdicts
    given by then), ``passed`` when none failed."""

    kind: ClassVar[EventKind] = "quick_check"
    chunk_index: int
    passed: bool
    results: list[PartialValidationResult]


@dataclass(frozen=True)
class StreamingDoneEvent(StreamingEvent):
    """The source ended and every chunk passed: ``full_text`` is the whole reply."""

    kind: ClassVar[EventKind] = "streaming_done"
    full_text: str


@dataclass(frozen=True)
class FullValidationEvent(StreamingEvent):
    """Every requirement's verdict on the full text, in the order the requirements were given."""

    kind: ClassVar[EventKind] = "full_validation"
    results: list[ValidationResult]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)


@dataclass(frozen=True)
class ErrorEvent(StreamingEvent):
    """An exception from the source or a requirement ended the run (upstream is closed)."""

    kind: ClassVar[EventKind] = "error"
    error: Exception

    @property
    def exception_type(self) -> str:
        """The error's class name (mellea's field)."""
        return type(self.error).__name__

    @property
    def detail(self) -> str:
        """The error's message (mellea's field)."""
        return str(self.error)


@dataclass(frozen=True)
class CompletedEvent(StreamingEvent):
    """Always the last event: whether every check passed, how the run ended, and the text
    released to the consumer."""

    kind: ClassVar[EventKind] = "completed"
    success: bool
    outcome: Outcome
    full_text: str
