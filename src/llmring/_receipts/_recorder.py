"""The stream's side of receipts: how a stream's end becomes one :class:`Receipt`.

``_StreamRun.chunks`` calls :meth:`Recorder.record` in its ``finally``, with what ended it
(``None`` for a normal return). That ``finally`` runs whatever happens once the stream has
started: completion, an error, ``break`` (the generator is closed by ``aclose()`` or by the
event loop's async-generator finaliser), ``aclose()`` from any task, task cancellation, a
deadline. A generator runs its ``finally`` once, so a receipt is never written twice.

A stream that is never read never starts its generator: no request was sent, and it gets no
receipt (a receipt records a call). ``record`` never raises: a receipt that cannot be made is
logged on the ``llmring`` logger and the stream's own outcome goes on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from llmring._receipts._receipt import Receipt, ReceiptStatus, estimate_tokens, uuid7
from llmring.exceptions import StreamInterruptedError

if TYPE_CHECKING:
    from llmring._receipts._writer import ReceiptWriter
    from llmring._stream import _StreamRun
    from llmring.schemas import Usage

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
            self.writer.put(self._receipt(run, outcome))
        except Exception:
            logger.exception("llmring could not make the receipt of a stream")

    def _receipt(self, run: _StreamRun, outcome: BaseException | None) -> Receipt:
        status, error = _status(run, outcome)
        assembler, candidate = run.assembler, run.candidate
        usage = assembler.usage if assembler is not None else None
        source: str | None = "reported" if usage else None
        text: str | None = None
        if assembler is not None and (self.content or (usage is None and assembler.delivered)):
            text = assembler.text
        if usage is None and assembler is not None and assembler.delivered:
            usage, source = _estimate(run, text or ""), "estimated"
        receipt = Receipt(
            id=uuid7(),
            started_at=run.started_at,  # type: ignore[arg-type]  # set when the run starts
            status=status,
            profile=run.profile,
            alias=run.request.model,
            candidates=tuple(c.ref for c in run.candidates),
            attempts=list(run.failed_attempts),
            provider=candidate.provider if candidate is not None else None,
            model=assembler.model if assembler is not None else None,
            finish_reason=assembler.finish_reason if assembler is not None else None,
            finish_reason_raw=assembler.finish_reason_raw if assembler is not None else None,
            error=error,
            usage=usage,
            usage_source=source,  # type: ignore[arg-type]
            cost=run.cost(),
            first_chunk_latency=run.first_chunk_latency,
            duration=run.duration if run.duration is not None else run.elapsed(),
            chunks=assembler.chunks if assembler is not None else 0,
            lockfile_digest=self.digest,
            conversation_id=run.conversation_id,
        )
        if self.content:
            receipt.messages = list(run.request.messages)
            receipt.response = text
            if assembler is not None:
                receipt.reasoning = assembler.reasoning or None
                receipt.tool_calls = assembler.tool_calls
        return receipt


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


def _estimate(run: _StreamRun, text: str) -> Usage:
    """Usage when the provider reported none but content was delivered: the text delivered
    (answer, reasoning, tool-call arguments) and the prompt's message texts, by
    :func:`estimate_tokens`."""
    assembler = run.assembler
    assert assembler is not None
    produced = text + assembler.reasoning
    for call in assembler.tool_calls or []:
        produced += call["function"]["arguments"]
    prompt = sum(estimate_tokens(_text_of(m.content)) for m in run.request.messages)
    completion = estimate_tokens(produced)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _text_of(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, str):
        return content
    parts = content or []
    return "".join(p["text"] for p in parts if isinstance(p.get("text"), str))
