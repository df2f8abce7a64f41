"""The data that crosses llmring's public API: requests, messages, stream chunks, responses.

Requests are validated when they are built, before any I/O: an empty message list, an unknown
role, a negative ``max_tokens`` or a malformed tool raise ``pydantic.ValidationError`` (a
``ValueError``) that names the field.

Stream chunks follow the stream contract (docs/stream-contract.md):

* a **content chunk** carries non-empty ``delta`` text, or ``reasoning`` text, or one
  ``tool_call_delta`` fragment; it never carries ``finish_reason`` or ``usage``;
* the **terminal chunk** is the last chunk of every successful stream and the only one with
  ``finish_reason`` set (``is_terminal`` is true). Its ``delta`` is ``""``; it carries ``usage``
  (``None`` when the provider reported none, or counts that cannot be right), ``model`` (the
  model that answered) and ``tool_calls``, the complete assembled calls in the OpenAI shape.

A chunk's ``metadata`` is always a mapping, so ``chunk.metadata.get(...)`` works on every chunk.
Chunks without metadata share one read-only empty mapping: no allocation per chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NoReturn

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import CoreSchema

from llmring._types import ToolCallDict, ToolCallField, ToolCallFunction, Usage, UsageField

__all__ = [
    "MAX_STOP_SEQUENCES",
    "FinishReason",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "Role",
    "StreamChunk",
    "StreamTimeouts",
    "ToolCallDelta",
    "ToolCallDict",
    "ToolCallFunction",
    "Usage",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]

#: Normalised finish reasons. ``pause``: the provider paused a long server-side turn (Anthropic
#: ``pause_turn``); send the conversation back to continue. ``other``: a value llmring does not
#: know; the provider's own word is always in ``finish_reason_raw``.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "pause", "other"]

ToolChoice = Literal["auto", "none", "required"] | dict[str, Any]

#: the most stop sequences a request may carry: OpenAI's limit, the smallest of the providers'
#: (Gemini takes 5; Anthropic and Ollama document no limit on the count)
MAX_STOP_SEQUENCES = 4


def _check_tool_call(call: Any) -> None:
    """Tool calls use the OpenAI shape: ``{"id", "type": "function", "function": {...}}``."""
    if not isinstance(call, dict):
        raise ValueError("each tool call must be a dict in the OpenAI shape")
    function = call.get("function")
    if not call.get("id") or not isinstance(function, dict) or not function.get("name"):
        raise ValueError(
            "a tool call needs 'id' and 'function': {'name': ..., 'arguments': '<json>'}"
        )
    if not isinstance(function.get("arguments", ""), str):
        raise ValueError("tool call 'function.arguments' must be a JSON string")


class Message(BaseModel):
    """One turn of a conversation.

    ``content`` is text, or a list of OpenAI-style content parts (``{"type": "text", ...}``).
    Assistant turns may carry ``tool_calls`` (OpenAI shape) with no content; tool results use
    ``role="tool"`` and the ``tool_call_id`` they answer. ``metadata`` carries provider data that
    must survive a round trip (reasoning signatures, for instance).
    """

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ToolCallField] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("content")
    @classmethod
    def _parts_have_types(cls, value: Any) -> Any:
        if isinstance(value, list):
            for part in value:
                if not isinstance(part.get("type"), str):
                    raise ValueError("each content part needs a 'type' (e.g. 'text')")
        return value

    @model_validator(mode="after")
    def _check_role_fields(self) -> Message:
        if self.tool_calls:
            if self.role != "assistant":
                raise ValueError("only assistant messages carry tool_calls")
            for call in self.tool_calls:
                _check_tool_call(call)
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(f"a {self.role} message needs content")
        return self

    @property
    def text(self) -> str:
        """The message's text: ``content`` itself, or its text parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")


class StreamTimeouts(BaseModel):
    """Deadlines in seconds, counted only while waiting for the provider.

    ``first_chunk``: until the first content chunk; ``idle``: between two chunks; ``total``: the
    whole stream. ``None`` means no limit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    total: float | None = Field(default=None, ge=0)
    first_chunk: float | None = Field(default=None, ge=0)
    idle: float | None = Field(default=None, ge=0)

    def over(self, defaults: StreamTimeouts) -> StreamTimeouts:
        """These deadlines, field by field, where set; ``defaults`` elsewhere (a request's
        deadlines over its provider's lockfile defaults)."""
        return StreamTimeouts(
            total=self.total if self.total is not None else defaults.total,
            first_chunk=self.first_chunk if self.first_chunk is not None else defaults.first_chunk,
            idle=self.idle if self.idle is not None else defaults.idle,
        )


class LLMRequest(BaseModel):
    """What to ask: an alias or ``provider:model``, the conversation and the generation options.

    ``timeout`` is either seconds for the whole stream or a :class:`StreamTimeouts`.
    ``stop``: 1 to :data:`MAX_STOP_SEQUENCES` non-empty strings (a string is a list of one);
    the reply ends just before the first one the model writes, with ``finish_reason="stop"``.
    Each adapter sends them under its provider's name, so they are a field, not an extra.
    ``extra_params`` is passed to the provider as it is (e.g. ``{"top_p": 0.9}``), except
    ``extra_params["stop"]``, which becomes ``stop``; the ``mock`` provider reads
    ``mock_response`` from it.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    tools: list[dict[str, Any]] | None = None
    tool_choice: ToolChoice | None = None
    response_format: dict[str, Any] | None = None
    stop: list[str] | None = None
    timeout: float | StreamTimeouts | None = None
    extra_params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _stop_from_extra_params(cls, data: Any) -> Any:
        """``extra_params["stop"]`` is ``stop``: the CLI's ``-o stop ...``, bots and older code
        put it there, and only the field reaches every provider under its own name."""
        extra = data.get("extra_params") if isinstance(data, dict) else None
        if not isinstance(extra, Mapping) or "stop" not in extra:
            return data
        rest = {key: value for key, value in extra.items() if key != "stop"}
        stop = extra["stop"]
        if stop is None:
            return {**data, "extra_params": rest}
        if data.get("stop") is not None:
            raise ValueError(
                "stop sequences are set twice, in stop and in extra_params['stop']: set them "
                "once, in stop"
            )
        return {**data, "extra_params": rest, "stop": stop}

    @field_validator("model")
    @classmethod
    def _model_is_a_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("model must name an alias or provider:model")
        return value

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not 1 <= len(value) <= MAX_STOP_SEQUENCES:
            raise ValueError(
                f"stop takes 1 to {MAX_STOP_SEQUENCES} sequences, not {len(value)} "
                f"({MAX_STOP_SEQUENCES} is OpenAI's limit, the smallest among the providers)"
            )
        if value is not None and not all(value):
            raise ValueError("stop sequences must be non-empty strings")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_not_negative(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and value < 0:
            raise ValueError("timeout must be >= 0 seconds")
        return value

    @field_validator("tools")
    @classmethod
    def _tools_are_functions(cls, tools: list[dict[str, Any]] | None) -> Any:
        for tool in tools or []:
            function = tool.get("function")
            if tool.get("type") != "function" or not isinstance(function, dict):
                raise ValueError(
                    "tools use the OpenAI function format: "
                    "{'type': 'function', 'function': {'name': ..., 'parameters': {...}}}"
                )
            if not function.get("name"):
                raise ValueError("every tool function needs a 'name'")
        return tools

    @model_validator(mode="after")
    def _tool_choice_matches_tools(self) -> LLMRequest:
        choice = self.tool_choice
        if choice in (None, "auto", "none"):
            return self
        if not self.tools:
            raise ValueError(f"tool_choice={choice!r} needs tools")
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            names = [t["function"]["name"] for t in self.tools]
            if name not in names:
                raise ValueError(f"tool_choice names {name!r}, which is not among tools {names}")
        return self

    @property
    def timeouts(self) -> StreamTimeouts:
        """``timeout`` as a :class:`StreamTimeouts` (a bare number is the total deadline)."""
        if isinstance(self.timeout, StreamTimeouts):
            return self.timeout
        return StreamTimeouts(total=self.timeout)


class ToolCallDelta(BaseModel):
    """One fragment of a tool call as it streams.

    ``index`` says which call it belongs to; ``id`` and ``name`` come on the first fragment of a
    call; ``arguments`` is the next piece of its JSON argument text (possibly cut anywhere).
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class _NoMetadata(dict[str, Any]):
    """The one shared empty ``metadata`` of chunks that carry none.

    A ``dict`` so that JSON, pydantic and ``{**chunk.metadata}`` treat it as any other; read-only
    because every such chunk shares it; hashable so that pydantic uses it as the field default
    without copying it for each chunk; copies and pickles are itself.
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "this chunk's metadata is empty and read-only; build your own mapping "
            "(dict(chunk.metadata) or {**chunk.metadata, ...})"
        )

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __hash__(self) -> int:  # type: ignore[override]  # dict is unhashable; this one is
        return 0

    def __copy__(self) -> _NoMetadata:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _NoMetadata:
        return self

    def __reduce__(self) -> str:
        return "_NO_METADATA"  # unpickles as this module's one instance

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(dict[str, Any])  # for the JSON schema of the default


#: the ``metadata`` of every chunk that has none
_NO_METADATA: Mapping[str, Any] = _NoMetadata()


class StreamChunk(BaseModel):
    """One item of ``LLMRing.chat_stream``; see the module docstring for the contract.

    ``content`` is an alias of ``delta`` (both as a constructor keyword and a property).
    ``metadata`` is a mapping on every chunk: the stream's timings and attempts on the terminal
    chunk, a layer's own keys (agents' ``type``, ``round``...), or the shared empty one.
    """

    model_config = ConfigDict(populate_by_name=True)

    delta: str = Field(default="", validation_alias=AliasChoices("delta", "content"))
    model: str | None = None
    provider: str | None = None
    finish_reason: FinishReason | None = None
    finish_reason_raw: str | None = None
    usage: UsageField | None = None
    tool_calls: list[ToolCallField] | None = None
    tool_call_delta: ToolCallDelta | None = None
    reasoning: str | None = None
    metadata: Mapping[str, Any] = _NO_METADATA

    @field_validator("metadata", mode="wrap")
    @classmethod
    def _empty_is_shared(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """``None`` and ``{}`` become the shared empty mapping (and None stays accepted)."""
        if value is None or (isinstance(value, Mapping) and not value):
            return _NO_METADATA
        return handler(value)

    @model_serializer(mode="wrap")
    def _serialise(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """With ``exclude_none``, an empty metadata is left out as ``None`` was: the CLI's
        ``--json`` lines and other compact dumps keep their shape."""
        data: dict[str, Any] = handler(self)
        if info.exclude_none and not self.metadata:
            data.pop("metadata", None)
        return data

    @property
    def content(self) -> str:
        """The text delta (same as ``delta``)."""
        return self.delta

    @property
    def is_terminal(self) -> bool:
        """True for the one last chunk of a successful stream."""
        return self.finish_reason is not None


class LLMResponse(BaseModel):
    """A whole reply, as ``LLMRing.chat`` returns it: what the stream would have assembled."""

    content: str = ""
    model: str | None = None
    provider: str | None = None
    finish_reason: FinishReason | None = None
    finish_reason_raw: str | None = None
    usage: UsageField | None = None
    tool_calls: list[ToolCallField] | None = None
    reasoning: str | None = None

    @property
    def total_tokens(self) -> int | None:
        return None if self.usage is None else self.usage.get("total_tokens")
