"""LLMRequest → the keyword arguments of ``responses.create``.

The Responses API takes the conversation as ``input`` items, not chat messages:

* a user, system or developer message is a message item of that role (system text is not
  moved into ``instructions``: the items keep their order, and the API reads both roles);
  content parts are ``input_text`` and ``input_image``;
* an assistant turn is its text as an assistant message, then one ``function_call`` item per
  tool call (``call_id``, ``name``, ``arguments``);
* a tool result is a ``function_call_output`` item naming the ``call_id`` it answers.

Tools and ``response_format`` lose a level of nesting: a function tool is ``{"type":
"function", "name", "parameters", ...}``, a JSON schema is ``text.format = {"type":
"json_schema", "name", "schema", ...}``. Anything that cannot be represented raises
``ConfigurationError`` before a request is sent: ``stop`` among them, as the Responses API
has no stop sequences.
"""

from __future__ import annotations

from typing import Any

from llmring.exceptions import ConfigurationError
from llmring.providers._choices import refuse_several_choices
from llmring.schemas import LLMRequest, Message, ToolChoice

__all__ = ["build_request", "input_items"]

#: an empty parameter list (Chat Completions lets a function omit ``parameters``)
_NO_PARAMETERS = {"type": "object", "properties": {}}


def build_request(request: LLMRequest, model: str) -> dict[str, Any]:
    """Arguments for a streamed ``responses.create`` call.

    ``extra_params`` travel as extra top-level JSON fields (``reasoning``, ``store``,
    ``instructions``, ``parallel_tool_calls``...), as for Chat Completions.
    """
    extra = dict(request.extra_params)
    refuse_several_choices(extra)
    if request.stop is not None:
        raise ConfigurationError(
            f"stop sequences are not supported by the Responses API (openai-responses, model "
            f"{model!r}), which has no such parameter: leave stop unset, or bind the model "
            "through the openai provider (Chat Completions), which takes them"
        )
    kwargs: dict[str, Any] = {
        "model": model,
        "input": input_items(request.messages),
        "stream": True,
    }
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.max_tokens is not None:
        kwargs["max_output_tokens"] = request.max_tokens
    if request.tools:
        kwargs["tools"] = [_tool(tool["function"]) for tool in request.tools]
    if request.tool_choice is not None:
        kwargs["tool_choice"] = _tool_choice(request.tool_choice)
    text_format = _text_format(request.response_format)
    if text_format is not None:
        kwargs["text"] = {"format": text_format}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def input_items(messages: list[Message]) -> list[dict[str, Any]]:
    """The conversation as ``input`` items, in order."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": _content(message.content),
                }
            )
        elif message.role == "assistant":
            items += _assistant(message)
        else:
            items.append({"role": message.role, "content": _content(message.content)})
    return items


def _content(content: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]]:
    if isinstance(content, list):
        return [_part(part) for part in content]
    return content or ""


def _part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "input_text", "text": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str):
            detail = image.get("detail") if isinstance(image, dict) else None
            return {"type": "input_image", "image_url": url, "detail": detail or "auto"}
    raise ConfigurationError(
        f"a content part of type {kind!r} cannot be sent to the Responses API (llmring sends "
        "{'type': 'text', 'text': ...} and {'type': 'image_url', 'image_url': {'url': ...}})"
    )


def _assistant(message: Message) -> list[dict[str, Any]]:
    """The reply's text, then its calls; other providers' ``provider_data`` is not sent."""
    if isinstance(message.content, list) and any(p["type"] != "text" for p in message.content):
        raise ConfigurationError("an assistant message can hold only text for the Responses API")
    items: list[dict[str, Any]] = []
    if message.text:
        items.append({"role": "assistant", "content": message.text})
    for call in message.tool_calls or ():
        function = call["function"]
        items.append(
            {
                "type": "function_call",
                "call_id": call["id"],
                "name": function["name"],
                "arguments": function.get("arguments") or "{}",
            }
        )
    return items


def _tool(function: dict[str, Any]) -> dict[str, Any]:
    """Chat's ``{"type": "function", "function": {...}}`` → the function's fields, flat.

    ``strict`` is false unless the tool says otherwise: Chat Completions' default, where the
    Responses API's own would be true.
    """
    return {
        "type": "function",
        **function,
        "parameters": function.get("parameters") or _NO_PARAMETERS,
        "strict": function.get("strict") is True,
    }


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if isinstance(choice, str):
        return choice
    return {"type": "function", "name": choice["function"]["name"]}


def _text_format(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """``json_schema`` → its fields, flat; ``json_object`` as it is; ``text`` is the default."""
    kind = response_format.get("type") if response_format is not None else "text"
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    spec = (response_format or {}).get("json_schema")
    if kind == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
        return {"type": "json_schema", **spec}
    raise ConfigurationError(
        f"response_format {kind!r} cannot be sent to the Responses API: pass "
        "{'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}, "
        "{'type': 'json_object'} or {'type': 'text'}"
    )
