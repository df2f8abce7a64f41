"""The stream's side of receipts: how a stream's end becomes one :class:`Receipt`.

``_StreamRun.chunks`` calls :meth:`Recorder.record` in its ``finally``, with what ended it
(``None`` for a normal return). That ``finally`` runs whatever happens once the stream has
started: completion, an error, ``break`` (the generator is closed by ``aclose()`` or by the
event loop's async-generator finaliser), ``aclose()`` from any task, task cancellation, a
deadline. A generator runs its ``finally`` once, so a receipt is never written twice.

A stream that is never read never starts its generator: no request was sent, and it gets no
receipt (a receipt records a call). ``record`` decides the status and hands the receipt to the
writer, which makes its row at once and queues it (about 13 µs in all, after the terminal
chunk was delivered); the writer thread stores it. It never raises: a receipt that cannot be
made is logged on the ``llmring`` logger and the stream's own outcome goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from llmring._receipts._receipt import Receipt, ReceiptStatus
from llmring.exceptions import StreamInterruptedError

if TYPE_CHECKING:
    from llmring._receipts._writer import ReceiptWriter
    from llmring._stream import _StreamRun

__all__ = ["Recorder"]

logger = logging.getLogger("llmring")

_STOPPED = (GeneratorExit, asyncio.CancelledError, KeyboardInterrupt, SystemExit)


class Recorder:
    """Makes the receipt of each stream of one ring and hands it to the writer."""

    __slots__ = ("content", "digest", "writer")

    def __init__(self, writer: ReceiptWriter, *, content: bool, digest: str) -> None:
        self.writer = writer
        self.content = content  # keep prompts and replies in the receipts
        self.digest = digest

    def record(self, run: _StreamRun, outcome: BaseException | None) -> None:
        """Hand ``run``'s receipt to the writer (``outcome``: what ended the stream)."""
        try:
            status, error = _status(run, outcome)
            duration = run.duration if run.duration is not None else run.elapsed()
            receipt = Receipt(run, status, error, duration, self.digest)
            if self.content:
                _add_content(receipt, run)
            self.writer.put(receipt)
        except Exception:
            logger.exception("llmring could not make the receipt of a stream")


def _add_content(receipt: Receipt, run: _StreamRun) -> None:
    """The prompt and the reply, taken now (the caller may reuse its message list)."""
    receipt.messages = list(run.request.messages)
    assembler = run.assembler
    if assembler is not None:
        receipt.response = assembler.text or None
        receipt.reasoning = assembler.reasoning or None
        receipt.tool_calls = assembler.tool_calls


def _status(
    run: _StreamRun, outcome: BaseException | None
) -> tuple[ReceiptStatus, BaseException | None]:
    """The receipt's status and the error it records, from what ended the stream."""
    if outcome is None or isinstance(outcome, _STOPPED):
        # ``duration`` is set just before the terminal chunk is yielded: a close at that
        # yield (``break`` right after it) loses nothing
        return ("ok" if run.duration is not None else "cancelled"), None
    expired = run.expired
    if expired is not None and (outcome is expired or outcome.__cause__ is expired):
        return "deadline", outcome
    if isinstance(outcome, StreamInterruptedError):
        return "interrupted", outcome
    return "error", outcome
