"""``AsyncSimpleBot`` and ``SimpleBot``: a system prompt, a model, optional memory."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any

from llmring.bots._core import BotCore
from llmring.bots._runner import iterate_sync
from llmring.bots._sync import SyncBot
from llmring.bots._targets import StreamTarget, check_target, deliver
from llmring.bots.memory import ChatMemory
from llmring.bots.messages import AIMessage, to_messages

__all__ = ["AsyncSimpleBot", "SimpleBot", "StreamTarget"]



class AsyncSimpleBot(BotCore):
    """A chat bot over ``LLMRing.chat_stream``.

    ``await bot("Hi")`` returns the reply as an :class:`AIMessage`;
    ``async for delta in bot.stream_async("Hi")`` yields its non-empty text deltas.
    ``last_message`` holds the latest completed reply (tool calls included). Messages may be
    strings, message objects or nested lists of them. Memory is updated only when a reply
    completes.
    """

    last_message: AIMessage | None = None

    def _keep(self, reply: AIMessage) -> None:
        self.last_message = reply

    async def stream_async(self, *messages: Any, **request_options: Any) -> AsyncGenerator[str, None]:
        """The reply's text as it arrives: non-empty deltas only."""
        # aclosing: leaving this generator early must close the provider stream now, not at GC
        async with aclosing(self.chunks(to_messages(*messages), self._keep,
                                        **request_options)) as chunks:
            async for chunk in chunks:
                if chunk.delta:
                    yield chunk.delta

    async def complete(
        self, *messages: Any, on_delta: Callable[[str], None] | None = None,
        **request_options: Any,
    ) -> AIMessage:
        """The whole reply; ``on_delta`` sees each text delta as it arrives."""
        replies: list[AIMessage] = []

        def keep(reply: AIMessage) -> None:
            replies.append(reply)
            self._keep(reply)

        async with aclosing(self.chunks(to_messages(*messages), keep, **request_options)) as chunks:
            async for chunk in chunks:
                if chunk.delta and on_delta is not None:
                    on_delta(chunk.delta)
        return replies[0]

    async def __call__(self, *messages: Any, **request_options: Any) -> AIMessage:
        return await self.complete(*messages, **request_options)


class SimpleBot(SyncBot):
    """The blocking twin of :class:`AsyncSimpleBot`, running its async path (one runner).

    ``stream_target`` says what ``bot(...)`` does: ``"stdout"`` prints the deltas as they
    arrive and returns the :class:`AIMessage`; ``"none"`` returns it silently; ``"api"``
    returns a generator of text deltas; ``"panel"`` a generator of the text so far (for UI
    widgets that redraw the whole text). Works inside a running event loop (a notebook).
    """

    bot: AsyncSimpleBot

    def __init__(
        self,
        system_prompt: str = "",
        model_name: str | None = None,
        temperature: float | None = 0.0,
        memory: ChatMemory | None = None,
        stream_target: StreamTarget = "stdout",
        mock_response: str | None = None,
        **completion_kwargs: Any,
    ) -> None:
        self.stream_target = check_target(stream_target)
        self.bot = AsyncSimpleBot(system_prompt, model_name, temperature, memory,
                                  mock_response, **completion_kwargs)


    def __call__(self, *messages: Any, **request_options: Any) -> Any:
        return deliver(self.stream_target,
                       lambda: self.bot.stream_async(*messages, **request_options),
                       lambda on_delta: self.bot.complete(*messages, on_delta=on_delta,
                                                          **request_options))

    def stream(self, *messages: Any, **request_options: Any) -> Iterator[str]:
        """Text deltas as a blocking iterator, whatever ``stream_target`` is."""
        return iterate_sync(lambda: self.bot.stream_async(*messages, **request_options))
