"""What every blocking bot shares: it wraps its async twin (``self.bot``) and reads through."""

from __future__ import annotations

from typing import Any

from llmring.bots.memory import ChatMemory
from llmring.bots.messages import AIMessage

__all__ = ["SyncBot"]


class SyncBot:
    """Base of ``SimpleBot``, ``QueryBot``, ``ToolBot`` and ``StructuredBot``: the work is done
    by ``self.bot`` (the async bot) through the one runner; these read its state."""

    bot: Any

    def __repr__(self) -> str:
        target = getattr(self, "stream_target", None)
        extra = f" stream_target={target!r}" if target else ""
        return f"<{type(self).__name__} model={self.bot.model_name!r}{extra}>"

    @property
    def memory(self) -> ChatMemory | None:
        return self.bot.memory  # type: ignore[no-any-return]

    @property
    def last_message(self) -> AIMessage | None:
        """The latest completed reply."""
        return self.bot.last_message  # type: ignore[no-any-return]
