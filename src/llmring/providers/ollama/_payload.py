"""LLMRequest → the JSON body of ``POST /api/chat``.

The body is built here as plain JSON, not through the SDK's pydantic request models: those
drop what they do not model (nested ``properties`` and ``minimum`` inside a tool's
parameter schema, a tool call's ``id``), and a tool schema that silently loses its nested
fields makes the model call the tool wrongly.

Mapping (anything llmring cannot express faithfully raises ``ConfigurationError`` before
any request is sent):

* ``system``/``developer`` → role ``system``; ``user``, ``assistant``, ``tool`` as they are.
* text parts are joined; ``image_url`` parts with a ``data:`` URL → the message's
  ``images`` (base64); any other part (remote image URLs, audio, files) is refused.
* assistant ``tool_calls`` → Ollama's shape, ``function.arguments`` a JSON *object*.
* tool results → role ``tool`` with ``tool_name`` (the message's ``name``, else the name of
  the earlier call with that id) and ``tool_call_id`` (newer servers match on it; older ones
  ignore unknown fields).
* ``tool_choice``: Ollama has none. ``auto``/unset send the tools, ``none`` sends no tools,
  ``required`` or a named tool is refused: Ollama cannot force a call.
* ``temperature`` → ``options.temperature``, ``max_tokens`` → ``options.num_predict``,
  ``stop`` → ``options.stop`` (``/api/chat`` reads no top-level ``stop``).
* ``response_format``: ``json_object`` → ``format: "json"``, ``json_schema`` → ``format``
  = the schema, ``text`` → nothing.
* ``extra_params``: ``think``, ``keep_alive``, ``format``, ``logprobs``, ``top_logprobs``
  are top-level chat parameters; every other key goes into ``options`` (``top_p``, ``seed``,
  ``num_ctx``...) and wins over the values above. (``extra_params["stop"]`` is ``stop``
  itself: the request moved it there.)
"""

from __future__ import annotations

from typing import Any

from llmring.exceptions import ConfigurationError
from llmring.providers._arguments import call_arguments
from llmring.providers._choices import refuse_several_choices
from llmring.schemas import LLMRequest, Message, ToolCallDict

__all__ = ["TOP_LEVEL_PARAMS", "build_body"]

TOP_LEVEL_PARAMS = frozenset({"think", "keep_alive", "format", "logprobs", "top_logprobs"})
_RESERVED = frozenset({"model", "messages", "tools", "stream", "options"})
_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}


def _content(message: Message) -> tuple[str, list[str]]:
    """The message's text and its inline images (base64, without the ``data:`` prefix)."""
    if message.content is None or isinstance(message.content, str):
        return message.content or "", []
    texts: list[str] = []
    images: list[str] = []
    refused: list[str] = []
    for part in message.content:
        kind = part["type"]
        if kind == "text":
            texts.append(str(part.get("text", "")))
            continue
        url = (part.get("image_url") or {}).get("url", "") if kind == "image_url" else ""
        head, _, data = url.partition(",")
        if head.startswith("data:image/") and head.endswith(";base64") and data:
            images.append(data)
        else:
            refused.append(
                "image_url (not a base64 data:image/ URL)" if kind == "image_url" else repr(kind)
            )
    if refused:
        raise ConfigurationError(
            f"ollama cannot take content parts of type {', '.join(refused)}; it accepts text "
            "and inline images (image_url with a data:<mime>;base64,... URL)"
        )
    return "".join(texts), images


def _tool_calls(calls: list[ToolCallDict]) -> list[dict[str, Any]]:
    # provider_data belongs to other providers (reasoning signatures); Ollama has no use for it
    return [
        {
            "id": call["id"],
            "function": {
                "name": call["function"]["name"],
                "arguments": call_arguments(call, "ollama"),
            },
        }
        for call in calls
    ]


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}  # tool_call_id → tool name, from earlier assistant turns
    result: list[dict[str, Any]] = []
    for message in messages:
        text, images = _content(message)
        item: dict[str, Any] = {"role": _ROLES[message.role], "content": text}
        if images:
            item["images"] = images
        if message.tool_calls:
            item["tool_calls"] = _tool_calls(message.tool_calls)
            names.update((c["id"], c["function"]["name"]) for c in message.tool_calls)
        if message.role == "tool" and message.tool_call_id:
            name = message.name or names.get(message.tool_call_id)
            if name:
                item["tool_name"] = name
            item["tool_call_id"] = message.tool_call_id
        result.append(item)
    return result


def _format(response_format: dict[str, Any] | None) -> Any:
    if response_format is None or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    schema = (response_format.get("json_schema") or {}).get("schema")
    if kind == "json_schema" and isinstance(schema, dict):
        return schema
    raise ConfigurationError(
        f"response_format {response_format!r}: ollama takes type json_object or json_schema "
        "(with json_schema.schema)"
    )


def _tools(request: LLMRequest) -> list[dict[str, Any]] | None:
    choice = request.tool_choice
    if choice in (None, "auto"):
        return request.tools or None
    if choice == "none":
        return None
    raise ConfigurationError(
        f"tool_choice={choice!r}: ollama cannot force a tool call; use tool_choice='auto' "
        "(the model decides) or 'none'"
    )


def build_body(request: LLMRequest, model: str) -> dict[str, Any]:
    """The JSON body of a streamed ``/api/chat`` call for ``model``."""
    extra = dict(request.extra_params)
    refuse_several_choices(extra)
    reserved = sorted(_RESERVED & extra.keys())
    if reserved:
        raise ConfigurationError(
            f"extra_params cannot set {', '.join(reserved)}: llmring sets them for ollama; "
            "other keys go into ollama's options"
        )
    body: dict[str, Any] = {"model": model, "messages": _messages(request.messages), "stream": True}
    tools = _tools(request)
    if tools:
        body["tools"] = tools
    fmt = _format(request.response_format)
    if fmt is not None and "format" in extra:
        raise ConfigurationError("set either response_format or extra_params['format'], not both")
    if fmt is not None:
        body["format"] = fmt
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.stop is not None:
        options["stop"] = request.stop  # a top-level "stop" is not read by /api/chat
    for key, value in extra.items():
        (body if key in TOP_LEVEL_PARAMS else options)[key] = value
    if options:
        body["options"] = options
    return body
