"""Keep API keys out of messages, logs and reprs.

Every ``LLMRingError`` message passes through :func:`redact`. It removes the values of
environment variables that hold credentials (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET`` and any
name registered by a lockfile's ``api_key_env``) and strings shaped like well-known key formats,
so that a provider error that echoes the key back (some do) cannot leak it.
"""

from __future__ import annotations

import os
import re

_KEY_SHAPES = re.compile(
    r"(sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}"  # OpenAI / Anthropic style
    r"|AIza[0-9A-Za-z_\-]{30,}"  # Google API keys
    r"|gsk_[A-Za-z0-9]{20,}"  # Groq
    r"|llmr-[A-Za-z0-9_\-]{20,})"  # llmring serve's own keys (their 12-character prefix stays)
)
_SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_KEY")
_extra_names: set[str] = set()
MASK = "***"


def register_secret_env(name: str) -> None:
    """Treat the value of environment variable ``name`` as a secret from now on."""
    _extra_names.add(name)


def _secret_values() -> list[str]:
    values = []
    for name, value in os.environ.items():
        if (name in _extra_names or name.endswith(_SECRET_SUFFIXES)) and len(value) >= 6:
            values.append(value)
    # Longest first, so a key that contains another is masked whole.
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """Return ``text`` with every credential-looking substring replaced by ``***``."""
    for value in _secret_values():
        if value in text:
            text = text.replace(value, MASK)
    return _KEY_SHAPES.sub(MASK, text)
