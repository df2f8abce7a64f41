"""The model a caller gets when it names none: ``$LLMRING_DEFAULT_ALIAS``, else ``chatbot``.

One rule for every entry point that lets the model be left out (``Agent()``, ``llmring chat
"question"``), so they never disagree about what "the default" is.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_ALIAS", "DEFAULT_ALIAS_ENV", "default_alias"]

DEFAULT_ALIAS_ENV = "LLMRING_DEFAULT_ALIAS"
DEFAULT_ALIAS = "chatbot"


def default_alias() -> str:
    """``$LLMRING_DEFAULT_ALIAS`` when set and not blank, else ``chatbot``; read on each call,
    so a change of the environment applies to the next agent or command."""
    return os.environ.get(DEFAULT_ALIAS_ENV, "").strip() or DEFAULT_ALIAS
