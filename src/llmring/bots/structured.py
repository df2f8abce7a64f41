"""``AsyncStructuredBot`` and ``StructuredBot``: replies validated into a Pydantic model.

The request carries ``response_format={"type": "json_schema", "json_schema": {"name", "schema",
"strict"}}``: OpenAI (and compatible servers) take it as it is, Anthropic as
``output_config.format``, Gemini as ``responseJsonSchema``, Ollama as ``format``. ``strict`` is
off by default because OpenAI's strict mode refuses (HTTP 400) most Pydantic schemas (every
field must be required, every object ``additionalProperties: false``); the schema still guides
the model, and the reply is validated here anyway. The system prompt asks for JSON matching the
schema too, for servers that ignore ``response_format`` (pass ``response_format=None`` to send
none, or ``{"type": "json_object"}``).

A reply is validated after one Markdown code fence around it (```json ... ```) is removed;
nothing else is guessed. Invalid JSON and schema violations are both fed back to the model,
which gets ``num_attempts`` tries in all. Memory keeps only a validated turn: the user's
messages and the reply that validated; rejected replies and the corrections asked for are not
kept. Provider errors are not retried here (aliases fall back before that).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from llmring.bots._core import BotCore
from llmring.bots._partial import (
    feedback,
    format_errors,
    partial_object,
    salvage,
    strip_fences,
)
from llmring.bots._runner import iterate_sync, run_sync
from llmring.bots._sync import SyncBot
from llmring.bots._targets import OnDelta, StreamTarget, printed
from llmring.bots.memory import ChatMemory
from llmring.bots.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, to_messages
from llmring.exceptions import LLMRingError
from llmring.service import LLMRing

__all__ = ["AsyncStructuredBot", "StructuredBot", "StructuredOutputError"]

M = TypeVar("M", bound=BaseModel)


class StructuredOutputError(LLMRingError):
    """No attempt produced a reply that validates against the model.

    ``errors`` holds each attempt's ``pydantic.ValidationError`` (invalid JSON is one too, of
    type ``json_invalid``) and ``texts`` each attempt's reply text, oldest first.
    """

    def __init__(
        self, model: type[BaseModel], errors: list[ValidationError], texts: list[str]
    ) -> None:
        self.model = model
        self.errors = errors
        self.texts = texts
        attempts = "\n".join(
            f"attempt {number}: {format_errors(error)}" for number, error in enumerate(errors, 1)
        )
        super().__init__(f"no valid {model.__name__} in {len(errors)} attempt(s):\n{attempts}")

    @property
    def last_text(self) -> str:
        return self.texts[-1]


def _response_format(model: type[BaseModel], strict: bool) -> dict[str, Any]:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)[:64]  # OpenAI's rule for the name
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": model.model_json_schema(), "strict": strict},
    }


def _prompt(system_prompt: str | SystemMessage, model: type[BaseModel]) -> str:
    ask = (
        "Reply with only a JSON object that matches this JSON schema, with no other text:\n"
        + json.dumps(model.model_json_schema())
    )
    text = str(system_prompt)
    return f"{text}\n\n{ask}" if text else ask


class AsyncStructuredBot(BotCore, Generic[M]):
    """A bot whose replies are instances of ``pydantic_model``.

    ``await bot("...")`` returns a validated instance (printing each attempt's JSON as it
    arrives unless ``stream_target`` is not ``"stdout"``); ``stream_async`` yields the raw JSON
    text deltas and ``stream_partial`` partial objects as the JSON arrives (one attempt each,
    validated at the end). ``last_message`` is the latest completed reply (valid or not),
    ``last_error`` the :class:`StructuredOutputError` of the latest call that had no valid
    reply (``None`` after a success). ``strict`` sets ``json_schema.strict``.
    """

    last_message: AIMessage | None = None
    last_error: StructuredOutputError | None = None

    def __init__(
        self,
        system_prompt: str | SystemMessage,
        pydantic_model: type[M],
        model_name: str | None = None,
        temperature: float | None = 0.0,
        memory: ChatMemory | None = None,
        mock_response: str | None = None,
        ring: LLMRing | None = None,
        *,
        strict: bool = False,
        **completion_kwargs: Any,
    ) -> None:
        completion_kwargs.setdefault("response_format", _response_format(pydantic_model, strict))
        super().__init__(
            _prompt(system_prompt, pydantic_model),
            model_name,
            temperature,
            memory,
            mock_response,
            ring,
            **completion_kwargs,
        )
        self.pydantic_model = pydantic_model

    async def __call__(
        self,
        *messages: Any,
        num_attempts: int = 10,
        allow_failed_validation: bool = False,
        **request_options: Any,
    ) -> M:
        """A validated instance, asking again (with the errors) up to ``num_attempts`` times.

        When no attempt validates: raises :class:`StructuredOutputError`, or with
        ``allow_failed_validation=True`` returns the last reply's partial object (the rule of
        ``stream_partial``: fields that validate on their own are set, the others read ``None``
        or their default; all of them when the reply is no JSON object at all), unvalidated,
        and keeps the error in ``last_error``.
        """
        if num_attempts < 1:
            raise ValueError("num_attempts must be at least 1")
        return await printed(
            self.stream_target,
            lambda on_delta: self._attempts(
                to_messages(*messages),
                num_attempts,
                allow_failed_validation,
                on_delta,
                request_options,
            ),
        )

    async def _attempts(
        self,
        turn: list[BaseMessage],
        num_attempts: int,
        allow_failed_validation: bool,
        on_delta: OnDelta | None,
        request_options: dict[str, Any],
    ) -> M:
        conversation = self.history(turn)
        errors: list[ValidationError] = []
        texts: list[str] = []
        for attempt in range(num_attempts):
            if attempt and on_delta is not None:
                on_delta("\n")  # each printed attempt on its own line
            reply = await self._complete(conversation, on_delta, request_options)
            try:
                return self._accept(turn, reply)
            except ValidationError as exc:
                errors.append(exc)
                texts.append(reply.content)
                conversation = [*conversation, reply, HumanMessage(content=feedback(exc))]
        self.last_error = StructuredOutputError(self.pydantic_model, errors, texts)
        if not allow_failed_validation:
            raise self.last_error
        return salvage(self.pydantic_model, self.last_error.last_text)

    async def stream_async(
        self, *messages: Any, **request_options: Any
    ) -> AsyncGenerator[str, None]:
        """The reply's JSON text as it arrives (non-empty deltas, fences included); when it
        completes it is validated: :class:`StructuredOutputError` if it does not."""
        turn = to_messages(*messages)
        replies: list[AIMessage] = []
        async with aclosing(
            self._deltas(self.history(turn), replies.append, request_options)
        ) as deltas:
            async for delta in deltas:
                yield delta
        self._accept_once(turn, replies[0])

    async def stream_partial(
        self, *messages: Any, **request_options: Any
    ) -> AsyncGenerator[M, None]:
        """Partial objects while the JSON arrives, then the validated one.

        A partial (rules in ``llmring.bots._partial``) is yielded when at least one field has
        arrived and it differs from the one before; the last item always equals the validated
        object (which is yielded unless the last partial already equals it). Invalid at the
        end: :class:`StructuredOutputError`, with no retry (the partials already shown would
        not lead to the new reply).
        """
        turn = to_messages(*messages)
        replies: list[AIMessage] = []
        text, last = "", None
        async with aclosing(
            self._deltas(self.history(turn), replies.append, request_options)
        ) as deltas:
            async for delta in deltas:
                text += delta
                partial = partial_object(self.pydantic_model, text)
                if partial is not None and partial.model_fields_set and partial != last:
                    last = partial
                    yield partial
        result = self._accept_once(turn, replies[0])
        if result != last:
            yield result

    # -- one attempt ------------------------------------------------------------------------------

    async def _deltas(
        self,
        conversation: list[BaseMessage],
        keep: Callable[[AIMessage], None],
        overrides: dict[str, Any],
    ) -> AsyncGenerator[str, None]:
        """Text deltas of one reply; ``keep`` gets it when complete. Memory is not touched
        here: only a reply that validates is committed (by ``_accept``)."""

        def complete(reply: AIMessage) -> None:
            self.last_message = reply
            keep(reply)

        chunks = self.chunks([], complete, conversation=conversation, commit=False, **overrides)
        async with aclosing(chunks):
            async for chunk in chunks:
                if chunk.delta:
                    yield chunk.delta

    async def _complete(
        self, conversation: list[BaseMessage], on_delta: OnDelta | None, overrides: dict[str, Any]
    ) -> AIMessage:
        replies: list[AIMessage] = []
        async with aclosing(self._deltas(conversation, replies.append, overrides)) as deltas:
            async for delta in deltas:
                if on_delta is not None:
                    on_delta(delta)
        return replies[0]

    def _accept(self, turn: list[BaseMessage], reply: AIMessage) -> M:
        """The validated reply, committed to memory; raises ``ValidationError``."""
        result = self.pydantic_model.model_validate_json(strip_fences(reply.content))
        if self.memory is not None:
            self.memory.append(*turn, reply)
        self.last_error = None
        return result

    def _accept_once(self, turn: list[BaseMessage], reply: AIMessage) -> M:
        try:
            return self._accept(turn, reply)
        except ValidationError as exc:
            self.last_error = StructuredOutputError(self.pydantic_model, [exc], [reply.content])
            raise self.last_error from exc


class StructuredBot(SyncBot, Generic[M]):
    """The blocking twin of :class:`AsyncStructuredBot`, running its async path (one runner).

    ``bot(...)`` returns the validated instance (printing each attempt's JSON unless
    ``stream_target`` is not ``"stdout"``); ``stream`` and ``stream_partial`` are blocking
    iterators. Works inside a running event loop (a notebook).
    """

    bot: AsyncStructuredBot[M]

    def __repr__(self) -> str:
        return f"<StructuredBot {self.bot.pydantic_model.__name__} model={self.bot.model_name!r}>"

    def __init__(
        self,
        system_prompt: str | SystemMessage,
        pydantic_model: type[M],
        model_name: str | None = None,
        temperature: float | None = 0.0,
        memory: ChatMemory | None = None,
        mock_response: str | None = None,
        *,
        strict: bool = False,
        stream_target: StreamTarget = "stdout",
        **completion_kwargs: Any,
    ) -> None:
        self.bot = AsyncStructuredBot(
            system_prompt,
            pydantic_model,
            model_name,
            temperature,
            memory,
            mock_response,
            strict=strict,
            stream_target=stream_target,
            **completion_kwargs,
        )

    @property
    def last_error(self) -> StructuredOutputError | None:
        return self.bot.last_error

    def __call__(
        self,
        *messages: Any,
        num_attempts: int = 10,
        allow_failed_validation: bool = False,
        **request_options: Any,
    ) -> M:
        return run_sync(
            self.bot(
                *messages,
                num_attempts=num_attempts,
                allow_failed_validation=allow_failed_validation,
                **request_options,
            )
        )

    def stream(self, *messages: Any, **request_options: Any) -> Iterator[str]:
        """The raw JSON text deltas as a blocking iterator."""
        return iterate_sync(lambda: self.bot.stream_async(*messages, **request_options))

    def stream_partial(self, *messages: Any, **request_options: Any) -> Iterator[M]:
        """Partial objects, then the validated one, as a blocking iterator."""
        return iterate_sync(lambda: self.bot.stream_partial(*messages, **request_options))
