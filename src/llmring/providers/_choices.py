"""One choice per request, for every provider.

llmring streams one answer per request. A request for several (OpenAI's ``n``, Gemini's
``candidate_count``) is refused by every adapter's payload builder, before any request, the
same way whichever provider an alias starts with. Honoured, the answers would interleave on
the wire, and llmring would have to end the stream with an error once content had arrived;
docs/stream-contract.md says what happens when a server sends other choices anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmring.exceptions import ConfigurationError, ProviderResponseError
from llmring.providers._shape import wrong_type

__all__ = ["CHOICE_FIELDS", "first_choice", "refuse_several_choices"]

#: ``extra_params`` keys that ask for several answers (OpenAI and compatible servers; Gemini,
#: in both of the spellings its REST API takes)
CHOICE_FIELDS = ("n", "candidate_count", "candidateCount")


def refuse_several_choices(extra_params: Mapping[str, Any]) -> None:
    """Raise ``ConfigurationError`` naming the field unless each of :data:`CHOICE_FIELDS`
    is absent or exactly the integer 1 (``True`` is JSON ``true``, not 1, on the wire)."""
    for field in CHOICE_FIELDS:
        if field in extra_params:
            value = extra_params[field]
            if type(value) is not int or value != 1:
                raise ConfigurationError(
                    f"extra_params {field}={value!r}: llmring streams one choice per request; "
                    "send several requests to get several answers"
                )


def first_choice(
    entry: Any, kind: str, setting: str, *, provider: str, model: str
) -> dict[str, Any]:
    """``entry`` of a chunk's ``kind`` list (``choices``, ``candidates``) when it is an object
    for the first choice. One with another ``index`` raises ``ProviderResponseError``: the
    server sent several choices anyway (``setting`` names the request field that asks)."""
    if type(entry) is not dict:
        raise wrong_type(f"{kind}[]", "an object")
    if entry.get("index", 0) != 0:
        raise ProviderResponseError(
            f"the provider sent several {kind} ({setting} > 1); llmring streams one",
            provider=provider,
            model=model,
        )
    return entry
