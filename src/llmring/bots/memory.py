"""Conversation memory for bots."""

from __future__ import annotations

from llmring.bots.messages import BaseMessage

__all__ = ["ChatMemory"]


class ChatMemory:
    """The last ``context_depth`` messages of a conversation (all of them with ``None``).

    Bots read it before a call and append to it only after a reply completed, so a stream that
    was broken off or failed leaves no half-turn behind.
    """

    def __init__(self, context_depth: int | None = None) -> None:
        if context_depth is not None and context_depth < 0:
            raise ValueError("context_depth must be >= 0 (or None for everything)")
        self.context_depth = context_depth
        self.messages: list[BaseMessage] = []

    def append(self, *messages: BaseMessage) -> None:
        self.messages.extend(messages)

    def retrieve(self, query: str | None = None, n_results: int | None = None) -> list[BaseMessage]:
        """The most recent messages, oldest first: ``n_results`` of them, at most
        ``context_depth``. (``query`` is accepted for retrieval-style memories; this one
        returns recency, not relevance.)"""
        limits = [n for n in (n_results, self.context_depth) if n is not None]
        window = list(self.messages)
        if limits:
            count = min(limits)
            window = window[-count:] if count else []
        # a tool result whose call was cut off by the window cannot be sent alone
        while window and window[0].role == "tool":
            window.pop(0)
        return window

    def reset(self) -> None:
        self.messages.clear()

    def __len__(self) -> int:
        return len(self.messages)
