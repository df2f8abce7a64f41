"""``llmring serve``: an OpenAI-compatible HTTP gateway over the lockfile (docs/serve.md).

This package holds the gateway's pieces; ``import llmring`` does not import it, and importing
it loads no web framework. ``_openai_api`` maps OpenAI's JSON to llmring's requests, responses
and errors, with no I/O.
"""

from __future__ import annotations

__all__: list[str] = []
