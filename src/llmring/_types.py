"""The shapes every layer passes around, typed: ``Usage`` and ``ToolCallDict``.

They are ``TypedDict``s, as pydantic-ai's ``ModelSettings`` is: a type checker knows their keys
and value types, and at run time they are the plain dicts they always were, so building one
costs nothing more than the dict, on the hot path too. ``llmring.schemas`` exports them.

In llmring's own pydantic models they are annotated :data:`UsageField` and
:data:`ToolCallField`: the type checker sees the ``TypedDict``, while pydantic validates and
serialises a plain ``dict`` exactly as before they were typed. Pydantic's own ``TypedDict``
schema would not: it turns ``"7"`` into ``7``, drops keys it does not know (a provider's own,
or a user's) and rejects a call without ``"type"``, which ``Message`` accepts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import GetPydanticSchema

# pydantic accepts only typing_extensions' TypedDict before Python 3.12, so a user's own
# model (a receipt, a log row) can hold these types too
from typing_extensions import TypedDict

__all__ = ["ToolCallDict", "ToolCallField", "ToolCallFunction", "Usage", "UsageField"]


class Usage(TypedDict, total=False):
    """Token counts under llmring's names (docs/stream-contract.md, "usage").

    ``prompt_tokens``, ``completion_tokens`` and ``total_tokens`` (computed from the two when
    the provider gives only those) are there whenever the provider reported them; every
    built-in provider reports them at the end of a complete stream. The others appear only
    when reported. No key is required because none is guaranteed: an OpenAI-compatible server
    may send some counts alone, and an interrupted stream's usage is whatever had arrived.
    Finalised counts are ints from 0 to ``MAX_TOKEN_COUNT`` (``llmring._assembler``);
    ``cost`` is the one float, added after the counts are checked.
    """

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    #: prompt tokens read from the provider's cache (part of ``prompt_tokens``)
    cached_tokens: int
    #: prompt tokens written to the provider's cache (Anthropic; part of ``prompt_tokens``)
    cache_creation_tokens: int
    #: of ``cache_creation_tokens``, those written to the one-hour cache (Anthropic's
    #: ``cache_creation.ephemeral_1h_input_tokens``), billed at a higher rate than the
    #: five-minute writes that make up the rest
    cache_creation_1h_tokens: int
    #: thinking tokens (part of ``completion_tokens``)
    reasoning_tokens: int
    #: server-side web searches the provider ran and bills per search (Anthropic's
    #: ``server_tool_use.web_search_requests``)
    web_search_requests: int
    #: the call's cost in US dollars, set on the terminal chunk and ``LLMResponse`` only when
    #: the model is priced (docs/prices.md); never a count, and never ``0`` for "unknown"
    cost: float


class ToolCallFunction(TypedDict):
    """The function a tool call names, and its arguments as JSON text (``"{}"`` for none)."""

    name: str
    arguments: str


class ToolCallDict(TypedDict):
    """One complete tool call, in OpenAI's shape.

    ``provider_data`` is what a provider needs back with the call in the next request, set by
    the adapter that read it and ignored by the others (Gemini's ``call_id`` and
    ``thought_signature``, Anthropic's ``anthropic_thinking`` blocks).
    """

    id: str
    type: Literal["function"]
    function: ToolCallFunction
    provider_data: NotRequired[dict[str, Any]]


#: validate and serialise the annotated ``TypedDict`` as the plain ``dict[str, Any]`` it is
_PLAIN_DICT = GetPydanticSchema(lambda _source, handler: handler(dict[str, Any]))

#: ``Usage`` as a pydantic field (see the module docstring)
UsageField = Annotated[Usage, _PLAIN_DICT]
#: ``ToolCallDict`` as a pydantic field (see the module docstring)
ToolCallField = Annotated[ToolCallDict, _PLAIN_DICT]
