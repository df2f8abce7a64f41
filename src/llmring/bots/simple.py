"""``AsyncSimpleBot`` and ``SimpleBot``: a system prompt, a model, optional memory.

Also LlamaBot's module-level helpers (same names and arguments as ``llamabot.bot.simplebot``),
built on the facade: :func:`completion_kwargs_for_messages`, :func:`make_async_response`,
:func:`stream_tokens_for_messages` and :func:`model_supports_token_streaming`. They take a
whole conversation (system prompt included, as ``compose_messages_for_human_messages``
returns it), accept sync and async bots, and never touch a bot's memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any

from llmring._stream import ChatStream
from llmring.bots._core import BotCore
from llmring.bots._runner import iterate_sync
from llmring.bots._sync import SyncBot
from llmring.bots._targets import StreamTarget, deliver, printed
from llmring.bots.memory import ChatMemory
from llmring.bots.messages import AIMessage, BaseMessage, to_messages
from llmring.schemas import LLMResponse

__all__ = [
    "AsyncSimpleBot",
    "SimpleBot",
    "StreamTarget",
    "completion_kwargs_for_messages",
    "make_async_response",
    "model_supports_token_streaming",
    "stream_tokens_for_messages",
]

Composed = tuple[list[BaseMessage], list[BaseMessage]]

#: models LlamaBot does not stream token by token (its rule, kept for code written against it)
_WHOLE_REPLY_MODELS = frozenset({"o1-preview", "o1-mini"})


class AsyncSimpleBot(BotCore):
    """A chat bot over ``LLMRing.chat_stream``.

    ``await bot("Hi")`` returns the reply as an :class:`AIMessage` (and prints it as it
    arrives, unless ``stream_target`` is not ``"stdout"``);
    ``async for delta in bot.stream_async("Hi")`` yields its non-empty text deltas.
    ``last_message`` holds the latest completed reply (tool calls included). Messages may be
    strings, message objects or nested lists of them. Memory is updated only when a reply
    completes.
    """

    last_message: AIMessage | None = None

    def _keep(self, reply: AIMessage) -> None:
        self.last_message = reply

    def compose_messages_for_human_messages(self, *human_messages: Any) -> Composed:
        """(the conversation to send: system prompt, what memory recalls, the new messages;
        the new messages alone, as memory will keep them)."""
        processed = to_messages(*human_messages)
        return self.history(processed), processed

    async def stream_async(
        self, *messages: Any, **request_options: Any
    ) -> AsyncGenerator[str, None]:
        """The reply's text as it arrives: non-empty deltas only."""
        # aclosing: leaving this generator early must close the provider stream now, not at GC
        async with aclosing(self._deltas(messages, self._keep, request_options)) as deltas:
            async for delta in deltas:
                yield delta

    async def complete(
        self,
        *messages: Any,
        on_delta: Callable[[str], None] | None = None,
        **request_options: Any,
    ) -> AIMessage:
        """The whole reply; ``on_delta`` sees each text delta as it arrives."""
        replies: list[AIMessage] = []

        def keep(reply: AIMessage) -> None:
            replies.append(reply)
            self._keep(reply)

        async with aclosing(self._deltas(messages, keep, request_options)) as deltas:
            async for delta in deltas:
                if on_delta is not None:
                    on_delta(delta)
        return replies[0]

    async def __call__(self, *messages: Any, **request_options: Any) -> AIMessage:
        return await printed(
            self.stream_target,
            lambda on_delta: self.complete(*messages, on_delta=on_delta, **request_options),
        )

    async def _deltas(
        self, messages: tuple[Any, ...], keep: Callable[[AIMessage], None], options: dict[str, Any]
    ) -> AsyncGenerator[str, None]:
        conversation, turn = self.compose_messages_for_human_messages(*messages)
        async with aclosing(
            self.chunks(turn, keep, conversation=conversation, **options)
        ) as chunks:
            async for chunk in chunks:
                if chunk.delta:
                    yield chunk.delta


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
        self.bot = AsyncSimpleBot(
            system_prompt,
            model_name,
            temperature,
            memory,
            mock_response,
            stream_target=stream_target,
            **completion_kwargs,
        )

    def compose_messages_for_human_messages(self, *human_messages: Any) -> Composed:
        """See :meth:`AsyncSimpleBot.compose_messages_for_human_messages`."""
        return self.bot.compose_messages_for_human_messages(*human_messages)

    def __call__(self, *messages: Any, **request_options: Any) -> Any:
        return deliver(
            self.stream_target,
            lambda: self.bot.stream_async(*messages, **request_options),
            lambda on_delta: self.bot.complete(*messages, on_delta=on_delta, **request_options),
        )

    def stream(self, *messages: Any, **request_options: Any) -> Iterator[str]:
        """Text deltas as a blocking iterator, whatever ``stream_target`` is."""
        return iterate_sync(lambda: self.bot.stream_async(*messages, **request_options))


# -- LlamaBot's module-level helpers ------------------------------------------------------------


def _core(bot: BotCore | SyncBot) -> BotCore:
    """The async bot doing the work (a sync bot wraps one)."""
    core = bot.bot if isinstance(bot, SyncBot) else bot
    if not isinstance(core, BotCore):
        raise TypeError(f"expected an llmring bot, not {type(bot).__name__}")
    return core


def model_supports_token_streaming(model_name: str) -> bool:
    """Whether :func:`stream_tokens_for_messages` yields the reply as it arrives (``True``) or
    once, whole: LlamaBot's rule, false for ``o1-preview`` and ``o1-mini`` (with or without a
    ``provider:`` prefix). llmring streams those from the provider too."""
    return model_name.partition("?")[0].rpartition(":")[2] not in _WHOLE_REPLY_MODELS


def completion_kwargs_for_messages(
    bot: BotCore | SyncBot, messages: Any, stream: bool = True
) -> dict[str, Any]:
    """The bot's request for ``messages`` (the whole conversation) as keyword arguments: the
    :class:`~llmring.schemas.LLMRequest` fields it sets (``model``, ``messages``,
    ``temperature``, its options, ``extra_params``), plus ``stream``."""
    request = _core(bot).request(to_messages(messages))
    fields = {
        name: getattr(request, name)
        for name in type(request).model_fields
        if name in request.model_fields_set
    }
    return {**fields, "stream": stream}


async def make_async_response(
    bot: BotCore | SyncBot, messages: Any, stream: bool = True
) -> ChatStream | LLMResponse:
    """The facade's answer to ``messages`` (the whole conversation): the ``chat_stream`` (an
    async iterator of :class:`~llmring.schemas.StreamChunk`, to consume or close) when
    ``stream``, else the assembled :class:`~llmring.schemas.LLMResponse`."""
    core = _core(bot)
    request = core.request(to_messages(messages))
    return core.ring.chat_stream(request) if stream else await core.ring.chat(request)


async def stream_tokens_for_messages(
    bot: BotCore | SyncBot,
    messages: Any,
    finalize: Callable[[AIMessage], None] | None = None,
) -> AsyncGenerator[str, None]:
    """Non-empty text deltas of the reply to ``messages`` (the whole conversation); once it
    completes, ``finalize`` gets the assembled :class:`AIMessage`. Memory is not touched.
    When :func:`model_supports_token_streaming` is false the text comes once, whole."""
    core = _core(bot)
    whole = not model_supports_token_streaming(core.model_name)
    held: list[str] = []
    chunks = core.chunks(
        [], finalize or (lambda reply: None), conversation=to_messages(messages), commit=False
    )
    async with aclosing(chunks):
        async for chunk in chunks:
            if not chunk.delta:
                continue
            if whole:
                held.append(chunk.delta)
            else:
                yield chunk.delta
    if held:
        yield "".join(held)
