"""What ``llmring chat`` logs, and ``-c`` / ``--cid``: continuing a logged conversation.

Every ``llmring chat`` stream is logged with its content (it is the user's own machine) and a
conversation id: a new one per ``chat``, or the continued one's. A receipt keeps the whole
request's messages, so a conversation's latest completed receipt holds its history: those
messages, then the reply as the assistant's turn. Continuing adds the new prompt after them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from llmring.cli._logs_commands import cli_store, logging_off, open_store

if TYPE_CHECKING:
    from llmring.schemas import Message
    from llmring.service import LLMRing

__all__ = ["Conversation", "chat_receipts", "continued", "unstored_receipts_reported"]


@dataclass(frozen=True)
class Conversation:
    """A logged conversation to continue: its id, the alias it used and its messages."""

    id: str
    alias: str
    messages: list[Message]


def chat_receipts(file: Path | None, no_log: bool) -> str:
    """The ``receipts`` URL of ``llmring chat``'s ring: the CLI's store, or ``off``."""
    from llmring._receipts._settings import OFF, env_setting

    if no_log or logging_off() or (env_setting() or "").strip().lower() == OFF:
        return OFF
    return cli_store(file).url


def continued(file: Path | None, last: bool, cid: str | None) -> Conversation | None:
    """The conversation ``-c`` (the last one) or ``--cid ID`` names; ``None`` for neither."""
    if not last and cid is None:
        return None
    if last and cid is not None:
        raise typer.BadParameter("give -c or --cid, not both", param_hint="'-c' / '--cid'")
    from llmring._receipts._store import ReceiptFilter

    store = open_store(file)
    try:
        if cid is None:
            cid = store.last_conversation()
            if cid is None:
                raise typer.BadParameter(
                    f"no conversation is logged in {store.path} yet; start one with "
                    "llmring chat PROMPT",
                    param_hint="'-c'",
                )
        rows = store.query(ReceiptFilter(conversation_id=cid))
    finally:
        store.close()
    done = [row for row in rows if row["status"] == "ok" and row["prompt"] is not None]
    if not done:
        raise typer.BadParameter(
            f"conversation {cid!r} has no completed reply with logged content in {store.path} "
            "(see: llmring logs)",
            param_hint="'--cid'",
        )
    return Conversation(cid, done[0]["alias"], _history(done[0]))


def _history(row: dict[str, Any]) -> list[Message]:
    """The messages of ``row``'s request, then its reply as the assistant's turn."""
    from llmring.schemas import Message

    messages = [Message.model_validate(m) for m in json.loads(row["prompt"])]
    tool_calls = json.loads(row["tool_calls"]) if row["tool_calls"] else None
    if row["response"] or tool_calls:
        messages.append(
            Message(role="assistant", content=row["response"] or None, tool_calls=tool_calls)
        )
    return messages


@contextmanager
def unstored_receipts_reported(ring: LLMRing) -> Iterator[None]:
    """Tell the user, once the command is done, about receipts the store could not take: the
    library only logs that (to the ``llmring`` logger), and a CLI user would never see it."""
    try:
        yield
    finally:
        writer = ring.receipts
        if writer is not None and (writer.spilled or writer.lost):
            from llmring.cli._common import err

            if writer.spilled:
                err(
                    f"note: {writer.spilled} receipt(s) could not be stored and went to "
                    f"{writer.spill_path}; store them later with: llmring logs import "
                    f"{writer.spill_path}"
                )
            if writer.lost:
                err(f"note: {writer.lost} receipt(s) could not be stored or spilled (see above)")
