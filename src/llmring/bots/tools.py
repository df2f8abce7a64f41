"""``@tool`` describes a function to a model; ``AsyncToolBot``/``ToolBot`` select tool calls.

The schema is built by pydantic from the signature (so ``Optional``, ``Literal``,
``list[...]`` and pydantic models come out as the JSON Schema a validator would accept), and
the descriptions come from the docstring: the text before its first section describes the
function, the ``Args:`` section (or ``:param x:`` lines) the parameters.

A tool bot selects, it does not execute: running a call (``Tool.invoke``) and sending the
result back (``execution_history``) is the caller's loop, which can log, confirm or refuse.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping
from contextlib import aclosing
from typing import Any, Generic, ParamSpec, TypeVar, cast, get_type_hints

from pydantic import BaseModel, Field, create_model

from llmring.bots._core import BotCore, settled
from llmring.bots._runner import iterate_sync, run_sync
from llmring.bots._sync import SyncBot
from llmring.bots._targets import OnDelta, StreamTarget, printed
from llmring.bots.memory import ChatMemory
from llmring.bots.messages import AIMessage, ToolCall, to_messages

__all__ = ["AsyncToolBot", "Tool", "ToolBot", "ToolSpec", "tool", "tool_schema"]

P = ParamSpec("P")
R = TypeVar("R")

_HEADER = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Returns?|Yields?|Raises"
    r"|Examples?|Notes?|Warnings?|See Also|Attributes|References)\s*:\s*$"
)
_ARG_SECTIONS = {"Args", "Arguments", "Parameters", "Params", "Keyword Args"}
_GOOGLE_ARG = re.compile(r"^(\s*)\**(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_FIELD = re.compile(r"^:(\w+)(?:\s+(?:[^:]*\s)?(\w+))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The description (the text before the first section) and each parameter's description,
    from a Google-style ``Args:`` section or Sphinx ``:param name:`` fields."""
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    indent = -1  # of the Args section's items; deeper lines continue the current item
    for line in inspect.cleandoc(doc or "").splitlines():
        header, field = _HEADER.match(line), _SPHINX_FIELD.match(line)
        item = _GOOGLE_ARG.match(line) if section in _ARG_SECTIONS else None
        if header:
            section, current, indent = header.group(1), None, -1
        elif field:
            section, current = "sphinx", field.group(2) if field.group(1) == "param" else None
            if current:
                params[current] = field.group(3).strip()
        elif section is None:
            description.append(line)
        elif item and (indent < 0 or len(item.group(1)) <= indent):
            indent, current = len(item.group(1)), item.group(2)
            params[current] = item.group(3).strip()
        elif line.strip() and current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), params


def _without_titles(schema: Any) -> Any:
    """pydantic's ``title`` keys only add tokens; a *property* named ``title`` is kept (its
    value is a schema, not a string)."""
    if isinstance(schema, dict):
        return {
            k: _without_titles(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [_without_titles(v) for v in schema]
    return schema


def _arguments_model(function: Callable[..., Any], docs: Mapping[str, str]) -> type[BaseModel]:
    name = getattr(function, "__name__", "tool")
    try:
        hints = get_type_hints(function, include_extras=True)
    except NameError as exc:
        raise TypeError(
            f"tool {name}: cannot resolve an annotation ({exc}); "
            "define the types it uses at module level"
        ) from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {name}: a model cannot fill *{param.name}; name each parameter")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            hints.get(param.name, Any),
            Field(default, description=docs.get(param.name)),
        )
    return create_model(f"{name}_arguments", **fields)


class Tool(Generic[P, R]):
    """A function with the OpenAI tool description a model needs to call it.

    Still callable as the function; ``json_schema`` is the tool in OpenAI's function format
    (what ``LLMRequest.tools`` takes); ``invoke(call)`` runs it with a model's arguments,
    validated and converted by the same pydantic model that produced the schema.
    """

    __name__: str  # set by functools.update_wrapper, like __doc__ and __wrapped__

    def __init__(
        self, function: Callable[P, R], *, name: str | None = None, description: str | None = None
    ) -> None:
        summary, docs = parse_docstring(function.__doc__)
        self.function = function
        self.name = name or getattr(function, "__name__", "tool")
        self.description = summary if description is None else description
        self.arguments_model = _arguments_model(function, docs)
        self.parameters: dict[str, Any] = _without_titles(self.arguments_model.model_json_schema())
        functools.update_wrapper(self, function)

    def __repr__(self) -> str:
        return f"<Tool {self.name}>"

    @property
    def json_schema(self) -> dict[str, Any]:
        described = {"description": self.description} if self.description else {}
        return {
            "type": "function",
            "function": {"name": self.name, **described, "parameters": self.parameters},
        }

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    def invoke(self, call: ToolCall | Mapping[str, Any]) -> R:
        """Run the function with a model's arguments (``pydantic.ValidationError`` if bad)."""
        arguments = call.arguments if isinstance(call, ToolCall) else call
        validated = self.arguments_model.model_validate(dict(arguments))
        values = {name: getattr(validated, name) for name in type(validated).model_fields}
        return cast(Callable[..., R], self.function)(**values)


def tool(function: Callable[P, R]) -> Tool[P, R]:
    """Decorate a function to offer it to a model (see :class:`Tool`)."""
    return Tool(function)


ToolSpec = Tool[..., Any] | Callable[..., Any] | Mapping[str, Any]


def tool_schema(spec: ToolSpec) -> dict[str, Any]:
    """A decorated function, a plain function or an OpenAI tool dict, as an OpenAI tool dict."""
    if isinstance(spec, Tool):
        return spec.json_schema
    if isinstance(spec, Mapping):
        function = spec.get("function")
        if (
            spec.get("type") != "function"
            or not isinstance(function, Mapping)
            or not function.get("name")
        ):
            raise ValueError(
                "a tool dict uses the OpenAI function format: "
                "{'type': 'function', 'function': {'name': ..., 'parameters': {...}}}"
            )
        return dict(spec)
    if callable(spec):
        return Tool(spec).json_schema
    raise TypeError(f"a tool is a function or an OpenAI tool dict, not {type(spec).__name__}")


class AsyncToolBot(BotCore):
    """Selects tool calls; it does not run them.

    ``await bot(*messages)`` returns the selected :class:`ToolCall` list (``[]`` when the model
    answered in text instead; ``last_message`` holds the whole reply: text, calls, usage), and
    prints any text as it arrives unless ``stream_target`` is not ``"stdout"``.
    Streaming: ``stream_events`` yields text deltas (``str``) as they arrive, then each
    selected ``ToolCall`` once the reply is complete; ``stream_async`` yields the text deltas
    only, and ``last_tool_calls`` holds the calls when the stream has completed (``None`` while
    a stream runs or after one was broken off or failed, so stale calls are never acted on).

    ``execution_history``: earlier calls and their results (``AIMessage`` with ``tool_calls``,
    then ``ToolMessage``s), sent after the new messages. Memory keeps the new messages and the
    reply (not the history); recalled calls without results are sent as text.
    """

    last_message: AIMessage | None = None

    def __init__(
        self,
        system_prompt: str = "",
        model_name: str | None = None,
        tools: Iterable[ToolSpec] = (),
        memory: ChatMemory | None = None,
        temperature: float | None = 0.0,
        **completion_kwargs: Any,
    ) -> None:
        super().__init__(system_prompt, model_name, temperature, memory, **completion_kwargs)
        self.tools = [tool_schema(t) for t in tools]
        names = [t["function"]["name"] for t in self.tools]
        if not names:
            raise ValueError("a tool bot needs at least one tool")
        if len(set(names)) < len(names):
            raise ValueError(f"tool names must be unique, got {names}")
        self.options["tools"] = self.tools  # in every request this bot builds

    @property
    def last_tool_calls(self) -> list[ToolCall] | None:
        return None if self.last_message is None else self.last_message.tool_calls

    def _keep(self, reply: AIMessage) -> None:
        self.last_message = reply

    async def stream_events(
        self, *messages: Any, execution_history: Any = None, **request_options: Any
    ) -> AsyncGenerator[str | ToolCall, None]:
        """Text deltas as they arrive, then the selected tool calls, complete."""
        self.last_message = None
        new = to_messages(*messages)
        query = new[-1].content if new else None
        conversation = settled([*self.history(new, query), *to_messages(execution_history or [])])
        chunks = self.chunks(
            new, self._keep, query=query, conversation=conversation, **request_options
        )
        async with aclosing(chunks):
            async for chunk in chunks:
                if chunk.delta:
                    yield chunk.delta
                if chunk.is_terminal and self.last_message is not None:
                    for call in self.last_message.tool_calls:
                        yield call

    async def stream_async(
        self, *messages: Any, execution_history: Any = None, **request_options: Any
    ) -> AsyncGenerator[str, None]:
        """The reply's text deltas; ``last_tool_calls`` is set when the stream completes."""
        events = self.stream_events(
            *messages, execution_history=execution_history, **request_options
        )
        async with aclosing(events):
            async for event in events:
                if isinstance(event, str):
                    yield event

    async def __call__(
        self, *messages: Any, execution_history: Any = None, **request_options: Any
    ) -> list[ToolCall]:
        return await printed(
            self.stream_target,
            lambda on_delta: self._select(messages, execution_history, on_delta, request_options),
        )

    async def _select(
        self,
        messages: tuple[Any, ...],
        execution_history: Any,
        on_delta: OnDelta | None,
        options: dict[str, Any],
    ) -> list[ToolCall]:
        calls: list[ToolCall] = []
        events = self.stream_events(*messages, execution_history=execution_history, **options)
        async with aclosing(events):
            async for event in events:
                if isinstance(event, ToolCall):
                    calls.append(event)
                elif on_delta is not None:
                    on_delta(event)
        return calls


class ToolBot(SyncBot):
    """The blocking twin of :class:`AsyncToolBot`, running its async path (one runner):
    ``bot(...)`` returns the selected calls (printing any text unless ``stream_target`` is not
    ``"stdout"``); ``stream``/``stream_events`` iterate."""

    bot: AsyncToolBot

    def __init__(
        self,
        system_prompt: str = "",
        model_name: str | None = None,
        tools: Iterable[ToolSpec] = (),
        memory: ChatMemory | None = None,
        temperature: float | None = 0.0,
        stream_target: StreamTarget = "stdout",
        **completion_kwargs: Any,
    ) -> None:
        self.bot = AsyncToolBot(
            system_prompt,
            model_name,
            tools,
            memory,
            temperature,
            stream_target=stream_target,
            **completion_kwargs,
        )

    @property
    def last_tool_calls(self) -> list[ToolCall] | None:
        return self.bot.last_tool_calls

    def __call__(
        self, *messages: Any, execution_history: Any = None, **request_options: Any
    ) -> list[ToolCall]:
        return run_sync(self.bot(*messages, execution_history=execution_history, **request_options))

    def stream(
        self, *messages: Any, execution_history: Any = None, **request_options: Any
    ) -> Iterator[str]:
        return iterate_sync(
            lambda: self.bot.stream_async(
                *messages, execution_history=execution_history, **request_options
            )
        )

    def stream_events(
        self, *messages: Any, execution_history: Any = None, **request_options: Any
    ) -> Iterator[str | ToolCall]:
        return iterate_sync(
            lambda: self.bot.stream_events(
                *messages, execution_history=execution_history, **request_options
            )
        )
