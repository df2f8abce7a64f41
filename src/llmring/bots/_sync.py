"""What every blocking bot shares: it wraps its async twin (``self.bot``) and reads through."""

from __future__ import annotations

from typing import Any

from llmring.bots._targets import StreamTarget
from llmring.bots.memory import ChatMemory
from llmring.bots.messages import AIMessage, SystemMessage

__all__ = ["SyncBot"]


class SyncBot:
    """Base of ``SimpleBot``, ``QueryBot``, ``ToolBot`` and ``StructuredBot``: the work is done
    by ``self.bot`` (the async bot) through the one runner; these read its state."""

    bot: Any

    def __repr__(self) -> str:
        target = self.stream_target
        extra = f" stream_target={target!r}" if target != "stdout" else ""
        return f"<{type(self).__name__} model={self.bot.model_name!r}{extra}>"

    @property
    def stream_target(self) -> StreamTarget:
        """What ``bot(...)`` does with the reply (kept on the async bot, which prints it)."""
        return self.bot.stream_target  # type: ignore[no-any-return]

    @stream_target.setter
    def stream_target(self, value: StreamTarget) -> None:
        self.bot.stream_target = value

    @property
    def model_name(self) -> str:
        return self.bot.model_name  # type: ignore[no-any-return]

    @property
    def system_prompt(self) -> SystemMessage:
        return self.bot.system_prompt  # type: ignore[no-any-return]

    @property
    def memory(self) -> ChatMemory | None:
        return self.bot.memory  # type: ignore[no-any-return]

    @property
    def last_message(self) -> AIMessage | None:
        """The latest completed reply."""
        return self.bot.last_message  # type: ignore[no-any-return]
