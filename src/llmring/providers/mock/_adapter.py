"""The ``mock`` provider's code: see the package docstring for its models and options."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl

from llmring.exceptions import (
    ConfigurationError,
    ModelNotFoundError,
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from llmring.providers import base
from llmring.providers._choices import refuse_several_choices
from llmring.providers._schema_instance import schema_instance
from llmring.schemas import FinishReason, LLMRequest, Message

_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass
class MockOptions:
    chunk_size: int = 0
    delay: float = 0.0
    response: str | None = None
    reasoning: str | None = None
    fail: str | None = None
    fail_after: int | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    retry_after: float = 1.0

    @classmethod
    def parse(cls, query: str, extra_params: dict[str, Any]) -> MockOptions:
        raw: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        raw.update({k[5:]: v for k, v in extra_params.items() if k.startswith("mock_")})
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in types:
                raise ConfigurationError(
                    f"unknown mock option {key!r}; known: {', '.join(sorted(types))}"
                )
            values[key] = _convert(key, value, str(types[key]))
        options = cls(**values)
        if options.fail is not None and options.fail not in _FAILURES:
            raise ConfigurationError(
                f"unknown mock failure {options.fail!r}; known: {', '.join(sorted(_FAILURES))}"
            )
        return options


def _convert(key: str, value: Any, type_name: str) -> Any:
    try:
        if "int" in type_name:
            return int(value)
        if "float" in type_name:
            return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"mock option {key}={value!r} is not a number") from None
    return str(value)


def _failure(kind: str, options: MockOptions) -> ProviderError:
    return _FAILURES[kind](options)


_FAILURES: dict[str, Callable[[MockOptions], ProviderError]] = {
    "rate_limit": lambda o: ProviderRateLimitError(
        "mock rate limit: slow down", status_code=429, retry_after=o.retry_after
    ),
    "auth": lambda o: ProviderAuthenticationError("mock: invalid API key", status_code=401),
    "not_found": lambda o: ModelNotFoundError("mock: no such model", status_code=404),
    "server": lambda o: ProviderResponseError("mock: internal server error", status_code=500),
    "overloaded": lambda o: ProviderResponseError("mock: overloaded", status_code=529),
    "timeout": lambda o: ProviderTimeoutError("mock: the request timed out"),
    "connection": lambda o: ProviderConnectionError("mock: connection refused"),
    "bad_request": lambda o: ProviderResponseError("mock: invalid request", status_code=400),
}


@dataclass
class MockStreamRecord:
    """What happened to one mock stream."""

    model: str
    #: the request the stream answers, as the adapter received it
    request: LLMRequest = field(repr=False)
    chunks_sent: int = 0
    completed: bool = False
    closed: bool = False
    cancelled: bool = False


class MockLedger:
    """Every mock stream started in this process, oldest first."""

    def __init__(self) -> None:
        self.records: list[MockStreamRecord] = []

    def clear(self) -> None:
        self.records.clear()

    @property
    def last(self) -> MockStreamRecord:
        return self.records[-1]

    @property
    def open_streams(self) -> list[MockStreamRecord]:
        return [r for r in self.records if not r.closed]


ledger = MockLedger()


def count_tokens(text: str) -> int:
    """The mock's tokenizer: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def _until_stop(text: str, stop: list[str] | None) -> str:
    """``text`` up to, not including, the earliest place any of ``stop`` occurs in it."""
    ends = [end for end in (text.find(sequence) for sequence in stop or ()) if end >= 0]
    return text[: min(ends)] if ends else text


def _truncate(text: str, max_tokens: int | None) -> tuple[str, bool]:
    if max_tokens is None:
        return text, False
    matches = list(_TOKEN.finditer(text))
    if len(matches) <= max_tokens:
        return text, False
    return text[: matches[max_tokens - 1].end()], True


def _pieces(text: str, chunk_size: int) -> list[str]:
    if chunk_size > 0:
        return [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    return re.findall(r"\s*\S+|\s+\Z", text)


def _example_value(schema: dict[str, Any]) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    defaults = {
        "string": "mock",
        "integer": 1,
        "number": 1.5,
        "boolean": True,
        "array": [],
        "object": {},
        "null": None,
    }
    if kind == "object" and "properties" in schema:
        return _example_arguments(schema)
    return defaults.get(kind if isinstance(kind, str) else "string", "mock")


def _example_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    required = schema.get("required", list(properties))
    return {name: _example_value(properties[name]) for name in required if name in properties}


def _default_text(name: str) -> str:
    return (
        f"Hello! This is mock:{name}, llmring's offline mock model. "
        "It streams a fixed reply in small chunks, so you can try aliases, fallbacks and "
        "streaming code without an API key. "
        "Bind a real model with `llmring bind chatbot anthropic:claude-haiku-4-5` when you "
        "are ready."
    )


def _structured_reply(response_format: dict[str, Any] | None) -> str | None:
    """What a model asked for JSON answers: an instance of the ``json_schema``, or ``{}``."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return "{}"
    if kind != "json_schema":
        return None
    spec = (response_format or {}).get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return json.dumps(schema_instance(schema if isinstance(schema, dict) else {"type": "object"}))


def _prompt_tokens(messages: list[Message]) -> int:
    total = 0
    for message in messages:
        total += count_tokens(message.text)
        for call in message.tool_calls or []:
            total += count_tokens(call["function"]["name"] + call["function"].get("arguments", ""))
    return total


class MockAdapter(base.ProviderAdapter):
    """Deterministic offline replies; see the module docstring for the options.

    The one adapter that overrides :meth:`base.ProviderAdapter.stream`: its events are made in
    process, so there are no bytes to frame, no client and no end marker to read; it yields
    ``base.StreamEnd`` itself, after its last event. Its options and failures are checked when the
    stream is made, before the first event.
    """

    supports_reasoning = True

    def stream(self, request: LLMRequest, model: str) -> AsyncGenerator[base.StreamEvent, None]:
        name, _, query = model.partition("?")
        refuse_several_choices(request.extra_params)  # as every provider does
        options = MockOptions.parse(query, request.extra_params)
        record = MockStreamRecord(model=name, request=request)
        ledger.records.append(record)
        return self._events(request, name, options, record)

    async def _events(
        self, request: LLMRequest, name: str, options: MockOptions, record: MockStreamRecord
    ) -> AsyncGenerator[base.StreamEvent, None]:
        try:
            content, completion, finish = self._plan(request, name, options)
            yield base.ModelReport(name)
            for position, event in enumerate(content):
                if options.fail and position == (options.fail_after or 0):
                    raise _failure(options.fail, options)
                if position == options.cut_after:
                    return
                if position == options.stall_after:
                    await asyncio.Event().wait()
                if options.delay:
                    await asyncio.sleep(options.delay)
                record.chunks_sent += 1
                yield event
            if options.fail and (options.fail_after or 0) >= len(content):
                raise _failure(options.fail, options)
            prompt = _prompt_tokens(request.messages)
            yield base.UsageReport(
                {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                }
            )
            yield base.Finish(finish, finish)
            record.completed = True  # before the end marker: the facade stops reading there
            yield base.StreamEnd()
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        finally:
            record.closed = True

    def _plan(
        self, request: LLMRequest, name: str, options: MockOptions
    ) -> tuple[list[base.StreamEvent], int, FinishReason]:
        """The content events, the completion token count and the finish reason."""
        events: list[base.StreamEvent] = []
        completion = 0
        if options.reasoning:
            events += [
                base.ReasoningDelta(p) for p in _pieces(options.reasoning, options.chunk_size)
            ]
            completion += count_tokens(options.reasoning)
        response = options.response
        if response is None and self._wants_tool_call(request):
            call_events, tokens = self._tool_call(request, options)
            return events + call_events, completion + tokens, "tool_calls"
        if response is None:
            response = self._reply_text(request, name)
        text, truncated = _truncate(_until_stop(response, request.stop), request.max_tokens)
        events += [base.TextDelta(p) for p in _pieces(text, options.chunk_size)]
        return events, completion + count_tokens(text), "length" if truncated else "stop"

    @staticmethod
    def _wants_tool_call(request: LLMRequest) -> bool:
        return (
            bool(request.tools)
            and request.tool_choice != "none"
            and (request.messages[-1].role != "tool")
        )

    @staticmethod
    def _reply_text(request: LLMRequest, name: str) -> str:
        structured = _structured_reply(request.response_format)
        if structured is not None:
            return structured
        last = request.messages[-1]
        if last.role == "tool":
            return f"The tool returned: {last.text}"
        if name == "echo":
            users = [m for m in request.messages if m.role == "user"]
            return users[-1].text if users else ""
        return _default_text(name)

    @staticmethod
    def _tool_call(request: LLMRequest, options: MockOptions) -> tuple[list[base.StreamEvent], int]:
        tools = request.tools or []
        choice = request.tool_choice
        wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        tool = next((t for t in tools if t["function"]["name"] == wanted), tools[0])
        function = tool["function"]
        arguments = json.dumps(_example_arguments(function.get("parameters") or {}))
        pieces = _pieces(arguments, options.chunk_size or 8)
        events: list[base.StreamEvent] = [
            base.ToolCallFragment(0, id="call_mock_0", name=function["name"], arguments=pieces[0])
        ]
        events += [base.ToolCallFragment(0, arguments=p) for p in pieces[1:]]
        return events, count_tokens(function["name"] + arguments)
