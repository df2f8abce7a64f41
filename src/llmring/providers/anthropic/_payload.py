"""LLMRequest → the keyword arguments of ``messages.create``.

The Messages API differs from the OpenAI shape llmring speaks in ways that matter here:

* there is no system role: system and developer messages become the top-level ``system``
  (several are joined with blank lines);
* roles alternate: a tool result is a ``tool_result`` block in a *user* turn, and consecutive
  turns of the same role are merged into one;
* an assistant's tool calls are ``tool_use`` blocks whose ``input`` is a JSON object, not a
  string; on a tool turn with extended thinking the thinking blocks, signed, must come first;
* ``max_tokens`` is required: :data:`DEFAULT_MAX_TOKENS` when the request sets none;
* ``stop`` is ``stop_sequences``, and a sequence that is only whitespace (``"\\n"``) is
  refused by the API, so it is refused here first.

Anything that cannot be represented raises ``ConfigurationError`` before a request is sent,
never silently dropped. An ``image_url`` part's ``detail`` hint has no equivalent and is not
sent; empty text is not sent either (the API rejects empty text blocks).
"""

from __future__ import annotations

import logging
from typing import Any

from llmring.exceptions import ConfigurationError
from llmring.providers._arguments import call_arguments
from llmring.providers._choices import refuse_several_choices
from llmring.providers._stop import stop_sequences
from llmring.schemas import LLMRequest, Message, ToolCallDict, ToolChoice

logger = logging.getLogger("llmring")

__all__ = ["DEFAULT_MAX_TOKENS", "build_request", "convert_messages"]

#: sent when the request has no ``max_tokens`` (the API requires one)
DEFAULT_MAX_TOKENS = 4096

_TOOL_CHOICES = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


def build_request(request: LLMRequest, model: str) -> dict[str, Any]:
    """Arguments for a streamed ``messages.create`` call.

    ``extra_params`` travel in ``extra_body`` (extra top-level JSON fields). ``temperature``
    is not sent: the SDK's ``create`` no longer takes sampling parameters and the API version
    it sends refuses them (see the package doc).
    """
    refuse_several_choices(request.extra_params)
    system, messages = convert_messages(request.messages)
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
        "stream": True,
    }
    if system:
        kwargs["system"] = system
    if request.tools:  # the API refuses a tool_choice without tools; without, none applies
        kwargs["tools"] = [_tool(tool) for tool in request.tools]
        if request.tool_choice is not None:
            kwargs["tool_choice"] = _tool_choice(request.tool_choice)
    output_format = _output_format(request.response_format)
    if output_format is not None:
        kwargs["output_config"] = {"format": output_format}
    stop = _stop_sequences(request)
    if stop is not None:
        kwargs["stop_sequences"] = stop
    if request.temperature is not None:
        logger.debug(
            "anthropic: temperature=%s not sent; this API version has no sampling parameters",
            request.temperature,
        )
    if request.extra_params:
        kwargs["extra_body"] = dict(request.extra_params)
    return kwargs


def _stop_sequences(request: LLMRequest) -> list[str] | None:
    """``stop`` → ``stop_sequences``; the API refuses a sequence that is only whitespace."""
    stop = stop_sequences(request, "Anthropic", "stop_sequences")
    for sequence in stop or ():
        if sequence.isspace():
            raise ConfigurationError(
                f"stop sequence {sequence!r} is only whitespace, which Anthropic refuses "
                "(each stop sequence must contain non-whitespace): use one with visible text "
                "in it, or leave it out for Anthropic models"
            )
    return stop


def convert_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The ``system`` text and the alternating ``messages`` of the Messages API."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            system.append(_system_text(message))
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if message.role == "tool":
            blocks = [_tool_result(message)]
        elif message.role == "assistant":
            blocks = _assistant_blocks(message)
        else:
            blocks = _content_blocks(message.content)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(text for text in system if text), turns


def _system_text(message: Message) -> str:
    blocks = _content_blocks(message.content)
    for block in blocks:
        if block["type"] != "text":
            raise ConfigurationError(
                f"a {message.role} message can hold only text for Anthropic "
                f"(its top-level 'system'), not a {block['type']} part"
            )
    return "".join(block["text"] for block in blocks)


def _content_blocks(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = [_part(part) for part in content]
    return [block for block in blocks if block["type"] != "text" or block["text"]]


def _part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "image_url":
        return _image(part.get("image_url"))
    raise ConfigurationError(
        f"a content part of type {kind!r} cannot be sent to Anthropic "
        "(llmring sends 'text' and 'image_url' parts)"
    )


def _image(image_url: Any) -> dict[str, Any]:
    """An OpenAI ``image_url`` (a ``data:`` URL or an http(s) URL) → an image block."""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise ConfigurationError("an image_url part needs 'image_url': {'url': ...}")
    if url.startswith("data:"):
        header, comma, data = url[len("data:") :].partition(",")
        media_type, *params = header.split(";")
        if not comma or "base64" not in params or not media_type:
            raise ConfigurationError(
                "an image data: URL must be base64 with a media type (data:image/png;base64,...)"
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ConfigurationError(f"an image URL must be data: or http(s), not {url[:40]!r}")


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    """Text, then ``tool_use`` blocks; each call's thinking blocks just before it, and the
    first call's before the text too, since a thinking tool turn must start with thinking."""
    text = _content_blocks(message.content)
    calls = message.tool_calls or []
    if not calls:
        return text
    first, *rest = calls
    blocks = _thinking_blocks(first) + text + [_tool_use(first)]
    for call in rest:
        blocks += _thinking_blocks(call) + [_tool_use(call)]
    return blocks


def _tool_use(call: ToolCallDict) -> dict[str, Any]:
    arguments = call_arguments(call, "Anthropic")
    return {
        "type": "tool_use",
        "id": call["id"],
        "name": call["function"]["name"],
        "input": arguments,
    }


def _thinking_blocks(call: ToolCallDict) -> list[dict[str, Any]]:
    """``provider_data["anthropic_thinking"]`` (as the stream recorded it) → thinking blocks.

    Other providers' ``provider_data`` (Gemini's ``thought_signature``...) is not for Anthropic.
    """
    provider_data = call.get("provider_data")
    saved = provider_data.get("anthropic_thinking") if isinstance(provider_data, dict) else None
    if not saved:
        return []
    blocks: list[dict[str, Any]] = []
    for block in saved if isinstance(saved, list) else [saved]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking":
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": block.get("thinking", ""),
                    "signature": block.get("signature", ""),
                }
            )
        elif kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": block.get("data", "")})
        else:
            raise ConfigurationError(
                f"tool call {call['id']!r}: provider_data "
                f"'anthropic_thinking' holds a {kind!r} block"
            )
    return blocks


def _tool_result(message: Message) -> dict[str, Any]:
    content = message.content
    return {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": content if isinstance(content, str) else _content_blocks(content),
    }


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """OpenAI function format → ``{"name", "description", "input_schema"}``."""
    function = tool["function"]
    converted: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    if isinstance(function.get("strict"), bool):
        converted["strict"] = function["strict"]
    return converted


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if isinstance(choice, str):
        return dict(_TOOL_CHOICES[choice])
    name = (choice.get("function") or {}).get("name")
    if choice.get("type") != "function" or not name:
        raise ConfigurationError(
            f"tool_choice {choice!r} is not 'auto', 'required', 'none' "
            "or {'type': 'function', 'function': {'name': ...}}"
        )
    return {"type": "tool", "name": name}


def _output_format(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """``json_schema`` maps to ``output_config.format``; ``text`` is the default anyway."""
    kind = response_format.get("type") if response_format is not None else "text"
    if kind == "text":
        return None
    if kind == "json_schema":
        spec = (response_format or {}).get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            return {"type": "json_schema", "schema": schema}
    raise ConfigurationError(
        f"response_format {kind!r} cannot be represented in Anthropic's Messages API, which "
        "constrains output only to a JSON schema: pass {'type': 'json_schema', 'json_schema': "
        "{'schema': {...}}}, or ask for JSON in the prompt"
    )
