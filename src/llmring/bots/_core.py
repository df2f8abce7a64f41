"""What every bot shares: model choice, the default ring, requests, commit-on-complete.

Every bot talks only to ``LLMRing.chat_stream``; none imports a provider.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Callable
from typing import Any

from llmring._default_ring import default_ring
from llmring._defaults import default_alias
from llmring.bots._options import split_options
from llmring.bots._targets import StreamTarget, check_target
from llmring.bots.memory import ChatMemory
from llmring.bots.messages import AIMessage, BaseMessage, SystemMessage, ToolCall, ToolMessage
from llmring.schemas import LLMRequest, LLMResponse, StreamChunk
from llmring.service import LLMRing

__all__ = ["MODEL_ENV", "BotCore", "ai_message", "settled"]

#: the environment variable that names the default model of bots; without it, the default
#: alias of every entry point (llmring._defaults: $LLMRING_DEFAULT_ALIAS, else chatbot)
MODEL_ENV = "LLMRING_BOT_MODEL"
MOCK_MODEL = "mock:bot"


def ai_message(response: LLMResponse) -> AIMessage:
    return AIMessage(
        content=response.content,
        tool_calls=[ToolCall.from_openai(c) for c in response.tool_calls or []],
        usage=response.usage,
        finish_reason=response.finish_reason,
        model=response.model,
    )


def _as_text(reply: AIMessage) -> AIMessage:
    lines = [reply.content] if reply.content else []
    lines += ["Selected tool calls:"]
    lines += [f"- {c.name}({json.dumps(c.arguments)})" for c in reply.tool_calls]
    return AIMessage(content="\n".join(lines))


def settled(conversation: list[BaseMessage]) -> list[BaseMessage]:
    """Assistant turns whose tool calls got no result (a selection kept in memory) become text:
    providers refuse a tool call that is not followed by its result."""
    answered = {m.tool_call_id for m in conversation if isinstance(m, ToolMessage)}
    return [
        _as_text(m)
        if isinstance(m, AIMessage)
        and m.tool_calls
        and not any(c.id in answered for c in m.tool_calls)
        else m
        for m in conversation
    ]


class BotCore:
    """Model choice, system prompt, memory, printing and request options of a bot.

    ``model_name`` is a lockfile alias or ``provider:model``; by default ``$LLMRING_BOT_MODEL``,
    else the alias ``chatbot``. ``mock_response`` makes the bot answer exactly that text offline
    (through the mock provider). ``stream_target`` says what ``await bot(...)`` prints:
    ``"stdout"`` (the default, as LlamaBot) the text as it arrives, anything else nothing.
    ``system_prompt`` is kept as a :class:`SystemMessage`. Other keyword arguments are request
    options (``max_tokens``, ``timeout``, ``response_format``...) or generation parameters
    passed on in ``extra_params`` (``top_p=0.9``); anything else is a ``TypeError`` (see
    ``llmring.bots._options``), so no setting of the bot ever reaches a provider.
    """

    def __init__(
        self,
        system_prompt: str | SystemMessage = "",
        model_name: str | None = None,
        temperature: float | None = 0.0,
        memory: ChatMemory | None = None,
        mock_response: str | None = None,
        ring: LLMRing | None = None,
        *,
        stream_target: StreamTarget = "stdout",
        **completion_kwargs: Any,
    ) -> None:
        self.system_prompt = (
            system_prompt
            if isinstance(system_prompt, SystemMessage)
            else SystemMessage(content=system_prompt)
        )
        self.mock_response = mock_response
        self.model_name = (
            MOCK_MODEL
            if mock_response is not None
            else (model_name or os.environ.get(MODEL_ENV) or default_alias())
        )
        self.temperature = temperature
        self.memory = memory
        self.stream_target = stream_target
        self._ring = ring
        self.options, self.extra_params = split_options(type(self).__name__, completion_kwargs)
        if mock_response is not None:
            self.extra_params["mock_response"] = mock_response

    @property
    def stream_target(self) -> StreamTarget:
        return self._stream_target

    @stream_target.setter
    def stream_target(self, value: StreamTarget) -> None:
        self._stream_target = check_target(value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model_name!r}>"

    @property
    def ring(self) -> LLMRing:
        return self._ring or default_ring()

    def history(self, messages: list[BaseMessage], query: str | None = None) -> list[BaseMessage]:
        """System prompt, then what memory recalls, then the new messages (tool calls that got
        no result are turned into text: see :func:`settled`)."""
        recalled = self.memory.retrieve(query) if self.memory is not None else []
        prompt = [self.system_prompt] if self.system_prompt.content else []
        return settled([*prompt, *recalled, *messages])

    def request(self, conversation: list[BaseMessage], **overrides: Any) -> LLMRequest:
        """The request for ``conversation``; ``overrides`` are split as at construction."""
        options, extra = split_options(type(self).__name__, overrides)
        options = {**self.options, **options}
        extra = {**self.extra_params, **extra}
        if self.temperature is not None:
            options.setdefault("temperature", self.temperature)
        return LLMRequest(
            model=self.model_name,
            messages=[m.to_message() for m in conversation],
            extra_params=extra,
            **options,
        )

    async def chunks(
        self,
        messages: list[BaseMessage],
        on_complete: Callable[[AIMessage], None],
        *,
        query: str | None = None,
        conversation: list[BaseMessage] | None = None,
        commit: bool = True,
        **overrides: Any,
    ) -> AsyncGenerator[StreamChunk, None]:
        """Stream the reply; when (and only when) it completes, commit it to memory (unless
        ``commit`` is false: a bot that validates first commits itself) and pass the
        assembled ``AIMessage`` to ``on_complete``."""
        request = self.request(conversation or self.history(messages, query), **overrides)
        async with self.ring.chat_stream(request) as stream:
            async for chunk in stream:
                if chunk.is_terminal:  # complete: commit before the consumer can stop
                    reply = ai_message(stream.response)
                    if commit and self.memory is not None:
                        self.memory.append(*messages, reply)
                    on_complete(reply)
                yield chunk
