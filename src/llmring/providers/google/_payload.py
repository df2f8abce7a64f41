"""LLMRequest → the JSON body of ``models/<model>:streamGenerateContent`` (REST field names).

Everything a request carries is either converted or refused with a ``ConfigurationError``
that names it, before any HTTP request: nothing is silently dropped.
"""

from __future__ import annotations

import json
from typing import Any

from llmring.exceptions import ConfigurationError
from llmring.providers._choices import refuse_several_choices
from llmring.providers._stop import stop_sequences
from llmring.providers.google._messages import build_contents, system_instruction
from llmring.schemas import LLMRequest

__all__ = ["build_body"]

#: request fields that ``extra_params`` may set at the top level of the body (everything
#: else goes into ``generationConfig``); ``tools`` entries are added after the functions
TOP_LEVEL_EXTRAS = frozenset({"tools", "safetySettings", "cachedContent"})


def build_body(request: LLMRequest) -> dict[str, Any]:
    """The ``GenerateContentRequest`` body for ``request``.

    ``extra_params`` keys may be snake_case or camelCase (``top_p``/``topP``); the top-level
    key is sent in camelCase, nested values as given (the API accepts both spellings inside
    them: a recorded request with ``parameters_json_schema`` got a 200). ``tools``,
    ``safety_settings`` and ``cached_content`` go to the top level of the body (``tools``
    entries such as ``{"codeExecution": {}}`` are added after the function declarations);
    every other key is merged into ``generationConfig`` and wins over the
    values llmring derives from the request (``temperature``, ``max_tokens``...), except
    ``stop_sequences``/``stopSequences`` beside ``stop``, which is refused: set it once.
    ``stop`` → ``generationConfig.stopSequences``.
    """
    body: dict[str, Any] = {"contents": build_contents(request.messages)}
    system = system_instruction(request.messages)
    if system is not None:
        body["systemInstruction"] = system
    refuse_several_choices(request.extra_params)
    top, generation = _split_extras(request.extra_params)
    tools = _tools(request) + list(top.pop("tools", []))
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _tool_choice(request.tool_choice)}
    config = _generation_config(request) | generation
    if config:
        body["generationConfig"] = config
    body.update(top)
    return body


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _split_extras(extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    top: dict[str, Any] = {}
    generation: dict[str, Any] = {}
    for key, value in extra.items():
        name = _camel(key)
        (top if name in TOP_LEVEL_EXTRAS else generation)[name] = value
    if not isinstance(top.get("tools", []), list):
        raise ConfigurationError("extra_params['tools'] must be a list of Gemini tool objects")
    return top, generation


def _tools(request: LLMRequest) -> list[dict[str, Any]]:
    """OpenAI function tools → one Gemini tool with ``functionDeclarations``.

    The parameters travel as ``parametersJsonSchema`` (plain JSON Schema), not
    ``parameters`` (Gemini's OpenAPI subset, which rejects keywords such as
    ``additionalProperties``).
    """
    declarations = []
    for tool in request.tools or []:
        function = tool["function"]
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str):
        return {"mode": modes[choice]}
    name = (choice.get("function") or {}).get("name")
    return {"mode": "ANY", "allowedFunctionNames": [name]}


def _generation_config(request: LLMRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    stop = stop_sequences(request, "google", "stop_sequences", "stopSequences")
    if stop is not None:
        config["stopSequences"] = stop
    config.update(_response_format(request.response_format))
    return config


def _response_format(response_format: dict[str, Any] | None) -> dict[str, Any]:
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        schema = ((response_format or {}).get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise ConfigurationError(
                "response_format json_schema needs {'json_schema': {'schema': {...}}}"
            )
        return {"responseMimeType": "application/json", "responseJsonSchema": schema}
    raise ConfigurationError(
        f"response_format type {kind!r} is not supported by the google "
        f"provider (use text, json_object or json_schema): "
        f"{json.dumps(response_format)[:200]}"
    )
