"""The agent's tools: their schemas for the request, and running one call the model asked for.

Schemas and argument validation are :class:`llmring.bots.tools.Tool`'s (one pydantic model per
function). Running a call never raises for the model's mistakes or the tool's own failure: an
unknown name, arguments that are not a JSON object or fail validation, and an exception from
the tool all become an error text that goes back to the model as the tool's result.
Cancellation (``CancelledError``) is never caught.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic_core import to_json

from llmring.bots.tools import Tool
from llmring.schemas import ToolCallDict

__all__ = ["ToolOutcome", "Toolbox", "parse_arguments"]

AgentTool = Tool[..., Any] | Callable[..., Any]


@dataclass(frozen=True)
class ToolOutcome:
    """One call run by an agent: what was asked and what came of it.

    ``output`` is the text sent back to the model: the result (a string as it is, anything
    else as JSON) or, when ``error`` is set, ``"Error: " + error``.
    """

    tool_call_id: str
    name: str
    arguments: dict[str, Any] | None
    result: str | None = None
    error: str | None = None

    @property
    def output(self) -> str:
        return f"Error: {self.error}" if self.error is not None else self.result or ""


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return to_json(value, fallback=str).decode()


def parse_arguments(text: str) -> dict[str, Any] | str:
    """The arguments as a dict, or the reason they are not one."""
    try:
        arguments = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        return f"the arguments are not valid JSON ({exc.msg}): {text!r}"
    if not isinstance(arguments, dict):
        return f"the arguments must be a JSON object, got {text!r}"
    return arguments


class Toolbox:
    """Named tools: plain functions (sync or async) or ``@tool`` functions."""

    def __init__(self, tools: Iterable[AgentTool]) -> None:
        self.tools: dict[str, Tool[..., Any]] = {}
        for spec in tools:
            if not callable(spec):
                raise TypeError(
                    f"an agent's tool is a function or a @tool, not "
                    f"{type(spec).__name__} (an agent must be able to run it)"
                )
            item = spec if isinstance(spec, Tool) else Tool(spec)
            name = str(item.name)
            if name in self.tools:
                raise ValueError(f"two tools are named {name!r}; tool names must be unique")
            self.tools[name] = item

    @property
    def schemas(self) -> list[dict[str, Any]] | None:
        """The tools in OpenAI's function format for ``LLMRequest.tools``; None when empty."""
        return [t.json_schema for t in self.tools.values()] or None

    async def run(self, call: ToolCallDict) -> ToolOutcome:
        """Run one call (OpenAI shape); await the result if the tool returned an awaitable."""
        function = call.get("function") or {}
        name, call_id = str(function.get("name")), str(call.get("id"))
        arguments = parse_arguments(function.get("arguments") or "")
        if isinstance(arguments, str):
            return ToolOutcome(call_id, name, None, error=arguments)
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            return ToolOutcome(
                call_id, name, arguments, error=f"there is no tool named {name!r} (tools: {known})"
            )
        try:
            value = tool.invoke(arguments)
            if inspect.isawaitable(value):
                value = await value
        except pydantic.ValidationError as exc:
            return ToolOutcome(
                call_id, name, arguments, error=f"invalid arguments for {name}: {exc}"
            )
        except Exception as exc:  # noqa: BLE001 - the model is told what went wrong
            return ToolOutcome(
                call_id, name, arguments, error=f"{name} raised {type(exc).__name__}: {exc}"
            )
        return ToolOutcome(call_id, name, arguments, result=_as_text(value))
