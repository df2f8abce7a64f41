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

from llmring.exceptions import ConfigurationError

__all__ = ["CHOICE_FIELDS", "refuse_several_choices"]

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
