"""llmring messages → Gemini ``contents`` and ``systemInstruction``.

Gemini knows two roles, ``user`` and ``model``, wants them alternating, and answers a function
call by the function's *name* (the call ids of the OpenAI shape are optional there). So:
system/developer messages become the ``systemInstruction``; assistant turns become ``model``
turns whose tool calls are ``functionCall`` parts (with their ``thoughtSignature`` put back:
Gemini 3 rejects a tool turn without it); tool results become ``functionResponse`` parts of a
``user`` turn; consecutive turns of one role are merged into one.
"""

from __future__ import annotations

import json
from typing import Any

from llmring.exceptions import ConfigurationError
from llmring.providers._arguments import call_arguments
from llmring.schemas import Message, ToolCallDict

__all__ = ["build_contents", "system_instruction"]


def system_instruction(messages: list[Message]) -> dict[str, Any] | None:
    """Every system/developer message, in order, as the parts of one ``systemInstruction``
    (Gemini has no system role inside ``contents``)."""
    parts = []
    for position, message in enumerate(messages):
        if message.role not in ("system", "developer"):
            continue
        if isinstance(message.content, list):
            for index, part in enumerate(message.content):
                if part["type"] != "text":
                    raise ConfigurationError(
                        f"messages[{position}].content[{index}]: a {message.role} message can "
                        f"only hold text for the google provider, not {part['type']!r}"
                    )
        if message.text:
            parts.append({"text": message.text})
    return {"parts": parts} if parts else None


def build_contents(messages: list[Message]) -> list[dict[str, Any]]:
    """The conversation as Gemini turns. Raises ``ConfigurationError`` for content Gemini
    cannot take (named), and for a tool result whose ``tool_call_id`` no earlier call has."""
    contents: list[dict[str, Any]] = []
    calls: dict[str, ToolCallDict] = {}  # tool_call_id → the call it answers
    for position, message in enumerate(messages):
        if message.role in ("system", "developer"):
            continue
        if message.role == "tool":
            role, parts = "user", [_function_response(message, calls, position)]
        elif message.role == "assistant":
            role, parts = "model", _model_parts(message, calls, position)
        else:
            role, parts = "user", _content_parts(message, position)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _model_parts(
    message: Message, calls: dict[str, ToolCallDict], position: int
) -> list[dict[str, Any]]:
    parts = _content_parts(message, position)
    for call in message.tool_calls or []:
        calls[call["id"]] = call
        parts.append(_function_call(call, position))
    return parts


def _function_call(call: ToolCallDict, position: int) -> dict[str, Any]:
    args = call_arguments(call, "Gemini", f"messages[{position}]: ")
    function_call: dict[str, Any] = {"name": call["function"]["name"], "args": args}
    provider_data = call.get("provider_data") or {}
    if provider_data.get("call_id"):  # an id Gemini gave; echo it so the result can match it
        function_call["id"] = provider_data["call_id"]
    part: dict[str, Any] = {"functionCall": function_call}
    if provider_data.get("thought_signature"):
        part["thoughtSignature"] = provider_data["thought_signature"]
    return part


def _function_response(
    message: Message, calls: dict[str, ToolCallDict], position: int
) -> dict[str, Any]:
    call = calls.get(message.tool_call_id or "")
    if call is None:
        raise ConfigurationError(
            f"messages[{position}]: tool result for tool_call_id {message.tool_call_id!r}, but "
            "no earlier assistant message has a tool call with that id; Gemini matches results "
            "to calls by function name, so the call must be in the conversation"
        )
    if isinstance(message.content, list) and any(p["type"] != "text" for p in message.content):
        kinds = sorted({p["type"] for p in message.content if p["type"] != "text"})
        raise ConfigurationError(
            f"messages[{position}]: tool results can only hold text for "
            f"the google provider, not {', '.join(kinds)}"
        )
    response: dict[str, Any] = {
        "name": call["function"]["name"],
        "response": _result_object(message.text),
    }
    call_id = (call.get("provider_data") or {}).get("call_id")
    if call_id:
        response["id"] = call_id
    return {"functionResponse": response}


def _result_object(text: str) -> dict[str, Any]:
    """``functionResponse.response`` must be a JSON object: a result that is one is sent as
    it is; anything else (plain text, a number, a list) as ``{"output": <the text>}``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"output": text}


def _content_parts(message: Message, position: int) -> list[dict[str, Any]]:
    content = message.content
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    return [_part(part, position, index) for index, part in enumerate(content)]


def _part(part: dict[str, Any], position: int, index: int) -> dict[str, Any]:
    kind = part["type"]
    where = f"messages[{position}].content[{index}]"
    if kind == "text":
        return {"text": str(part.get("text", ""))}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
            mime, _, data = url[len("data:") :].partition(";base64,")
            return {"inlineData": {"mimeType": mime, "data": data}}
        raise ConfigurationError(
            f"{where}: image_url {str(url)[:60]!r} is not a base64 data: URL; the google "
            "provider sends images inline, so pass 'data:<mime>;base64,<bytes>'"
        )
    raise ConfigurationError(
        f"{where}: content part type {kind!r} is not supported by the "
        "google provider (text, and image_url with a data: URL, are)"
    )
