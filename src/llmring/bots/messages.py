"""Message types for bots, and the normalisation of whatever a bot is given.

A bot accepts strings (a user turn each), message objects, llmring ``Message`` objects, or
nested lists and tuples of any of these; :func:`to_messages` flattens them, in order, into
bot messages, and :meth:`BaseMessage.to_message` turns each into the facade's ``Message``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmring._types import UsageField
from llmring.schemas import Message, ToolCallDict

__all__ = [
    "AIMessage",
    "BaseMessage",
    "DeveloperMessage",
    "HumanMessage",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
    "system",
    "to_messages",
    "user",
]


class ToolCall(BaseModel):
    """A tool call the model asked for: ``arguments`` parsed from its JSON text."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    #: the provider's data that must travel back with the call (reasoning signatures)
    provider_data: dict[str, Any] | None = None

    @classmethod
    def from_openai(cls, call: ToolCallDict) -> ToolCall:
        function = call["function"]
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except json.JSONDecodeError:
            arguments = {"_raw": function.get("arguments")}
        if not isinstance(arguments, dict):
            arguments = {"_value": arguments}
        return cls(
            id=call["id"],
            name=function["name"],
            arguments=arguments,
            provider_data=call.get("provider_data"),
        )

    def to_openai(self) -> ToolCallDict:
        call: ToolCallDict = {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }
        if self.provider_data:
            call["provider_data"] = self.provider_data
        return call


class BaseMessage(BaseModel):
    """One turn of a bot's conversation."""

    role: ClassVar[Literal["system", "developer", "user", "assistant", "tool"]]
    content: str = ""

    def to_message(self) -> Message:
        return Message(role=self.role, content=self.content)

    def __str__(self) -> str:
        return self.content


class SystemMessage(BaseMessage):
    role: ClassVar[Literal["system"]] = "system"


class DeveloperMessage(BaseMessage):
    role: ClassVar[Literal["developer"]] = "developer"


class HumanMessage(BaseMessage):
    role: ClassVar[Literal["user"]] = "user"


class AIMessage(BaseMessage):
    """The bot's reply; ``tool_calls`` holds the calls the model selected (not executed)."""

    role: ClassVar[Literal["assistant"]] = "assistant"
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: UsageField | None = None
    finish_reason: str | None = None
    model: str | None = None

    def to_message(self) -> Message:
        calls = [c.to_openai() for c in self.tool_calls] or None
        return Message(
            role="assistant",
            content=self.content if self.content or not calls else None,
            tool_calls=calls,
        )


class ToolMessage(BaseMessage):
    """The result of a tool call, answering ``tool_call_id``."""

    role: ClassVar[Literal["tool"]] = "tool"
    tool_call_id: str

    def to_message(self) -> Message:
        return Message(role="tool", content=self.content, tool_call_id=self.tool_call_id)


def user(*texts: str) -> HumanMessage:
    """A user turn; several texts are joined with blank lines."""
    return HumanMessage(content="\n\n".join(texts))


def system(*texts: str) -> SystemMessage:
    """A system prompt; several texts are joined with blank lines."""
    return SystemMessage(content="\n\n".join(texts))


_BY_ROLE: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "developer": DeveloperMessage,
    "user": HumanMessage,
    "assistant": AIMessage,
    "tool": ToolMessage,
}


def _from_message(message: Message) -> BaseMessage:
    if message.role == "assistant":
        calls = [ToolCall.from_openai(c) for c in message.tool_calls or []]
        return AIMessage(content=message.text, tool_calls=calls)
    if message.role == "tool":
        return ToolMessage(content=message.text, tool_call_id=message.tool_call_id or "")
    return _BY_ROLE[message.role](content=message.text)


def to_messages(*inputs: Any) -> list[BaseMessage]:
    """Flatten strings, bot messages, ``Message`` objects or their dicts, and nested lists,
    in order."""
    result: list[BaseMessage] = []
    for item in inputs:
        if isinstance(item, BaseMessage):
            result.append(item)
        elif isinstance(item, str):
            result.append(HumanMessage(content=item))
        elif isinstance(item, Message):
            result.append(_from_message(item))
        elif isinstance(item, dict):  # {"role": ..., "content": ...}, as JSON APIs send them
            result.append(_from_message(Message.model_validate(item)))
        elif isinstance(item, Iterable) and not isinstance(item, (bytes, dict)):
            result.extend(to_messages(*item))
        else:
            raise TypeError(
                f"a bot takes strings, messages or lists of them, not {type(item).__name__}"
            )
    return result
