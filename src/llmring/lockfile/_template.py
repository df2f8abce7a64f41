"""The text ``llmring lock init`` writes: a commented lockfile bound to what is usable here."""

from __future__ import annotations

import os

from llmring.providers._registry import BUILTIN_PROVIDERS

__all__ = [
    "STANDARD_ALIASES",
    "detected_providers",
    "empty_lockfile_text",
    "initial_lockfile_text",
]

#: The aliases a new lockfile defines, with what each is for.
STANDARD_ALIASES = {
    "chatbot": "general conversation",
    "fast": "quick, cheap answers",
    "deep": "harder reasoning",
}

_HEADER = """\
# llmring lockfile: the aliases your code asks for ("chatbot"), each bound to an ordered list
# of provider:model references (primary first, then fallbacks). Edit it by hand or with
#   llmring bind ALIAS PROVIDER:MODEL[,FALLBACK...]
# Profiles (LLMRING_PROFILE=prod) hold alternative bindings. Never put API keys here: keys
# come from environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, ...).
version = "1.0"
default_profile = "default"
"""

_MOCK_NOTE = """\
# No provider credentials were found, so these aliases use the offline mock provider.
# To use a real model, set its key and rebind, e.g.:
#   export ANTHROPIC_API_KEY=...
#   llmring bind chatbot anthropic:claude-haiku-4-5,mock:chatbot
"""

_PROVIDERS_NOTE = """
# Extra endpoints: any OpenAI-compatible server (llama.cpp, vLLM, LM Studio, Groq...) becomes
# usable as local:<model> with a table like this one (the key is read from the named variable):
# [providers.local]
# type = "openai"
# base_url = "http://127.0.0.1:8080/v1"
# api_key_env = "LOCAL_API_KEY"
"""


def detected_providers() -> list[str]:
    """Built-in providers whose credentials (or host) are set in the environment, in order."""
    return [
        name
        for name, spec in BUILTIN_PROVIDERS.items()
        if spec.suggested_models and any(os.environ.get(env) for env in spec.signals)
    ]


def initial_lockfile_text(providers: list[str] | None = None) -> str:
    """A new lockfile binding the standard aliases to ``providers`` (default: detected ones),
    or to mock models when there are none."""
    providers = detected_providers() if providers is None else providers
    lines = [_HEADER, "[profiles.default]", 'name = "default"', ""]
    if not providers:
        lines.append(_MOCK_NOTE)
        providers = ["mock"]
    for alias, purpose in STANDARD_ALIASES.items():
        models = [
            f"{name}:{BUILTIN_PROVIDERS[name].suggested_models[alias]}"
            for name in providers
            if alias in BUILTIN_PROVIDERS[name].suggested_models
        ]
        quoted = ", ".join(f'"{m}"' for m in models)
        lines += [
            f"# {alias}: {purpose}",
            "[[profiles.default.bindings]]",
            f'alias = "{alias}"',
            f"models = [{quoted}]",
            "",
        ]
    return "\n".join(lines) + _PROVIDERS_NOTE


def empty_lockfile_text() -> str:
    """A lockfile with an empty default profile (what ``bind`` starts from when none exists)."""
    return _HEADER + '\n[profiles.default]\nname = "default"\n'
