"""The validated, read-only view of a lockfile, and the rules for its names and references.

:func:`alias_problem`, :func:`profile_problem` and :func:`parse_models` are the one place that
says what an alias, a profile name and a binding's model list may be: the parser
(``_parse.py``) applies them to a file, ``llmring bind``/``unbind`` to their arguments.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmring.exceptions import ProfileNotFoundError
from llmring.schemas import StreamTimeouts

if TYPE_CHECKING:
    from llmring._receipts._settings import StoreURL

__all__ = [
    "Binding",
    "Lockfile",
    "ModelRef",
    "Price",
    "Profile",
    "ProviderEntry",
    "ReceiptsEntry",
    "alias_problem",
    "parse_model_ref",
    "parse_models",
    "profile_problem",
]

_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _unprintable(text: str) -> str | None:
    """The first character that would let printed output lie (a control, bidi, zero-width or
    separator character other than the space), described, or ``None``."""
    for char in text:
        if char != " " and not char.isprintable():
            name = unicodedata.name(char, "")
            return f"U+{ord(char):04X} " + (name or "(a control character)")
    return None


def _name_problem(kind: str, name: object) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return f"{kind} {name!r} must be a non-empty name"
    bad = _unprintable(name)
    if bad:
        return (
            f"{kind} {name!r} contains {bad}; names are printable text without control, "
            "bidi or zero-width characters"
        )
    if name != name.strip():
        return f"{kind} {name!r} has spaces around it; write {name.strip()!r}"
    return None


def alias_problem(alias: object) -> str | None:
    """Why ``alias`` cannot name a binding, or ``None``: it must be printable text (so that
    ``llmring aliases`` prints what is there), without surrounding spaces, and without ':'
    (which would make it a ``provider:model`` reference)."""
    if not isinstance(alias, str) or not alias.strip() or ":" in alias:
        return f"alias {alias!r} must be a non-empty name without ':'"
    return _name_problem("alias", alias)


def profile_problem(profile: object) -> str | None:
    """Why ``profile`` cannot name a profile, or ``None`` (the alias rule, ':' allowed)."""
    return _name_problem("profile", profile)


@dataclass(frozen=True)
class ModelRef:
    """``provider:model``; the model part may itself contain colons (``ollama:llama3:8b``)."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def parse_model_ref(text: Any) -> ModelRef:
    """Parse ``provider:model``; raise ``ValueError`` saying what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"a model reference must be a string like 'openai:gpt-4o', got {text!r}")
    provider, sep, model = text.strip().partition(":")
    if not text.strip():
        raise ValueError("a model reference is empty; write 'provider:model'")
    if not sep or not provider or not model.strip():
        raise ValueError(f"{text!r} is not a model reference; write 'provider:model'")
    if not _PROVIDER_NAME.match(provider) or any(c.isspace() for c in model) or _unprintable(model):
        raise ValueError(f"{text!r} is not a valid model reference; write 'provider:model'")
    return ModelRef(provider, model)


def parse_models(
    values: Sequence[Any], providers: Collection[str] | None = None
) -> tuple[ModelRef, ...]:
    """A binding's model list: valid references, each listed once, each of a known provider
    (when ``providers`` is given). Raises ``ValueError`` naming the first problem."""
    refs: list[ModelRef] = []
    for text in values:
        ref = parse_model_ref(text)
        if providers is not None and ref.provider not in providers:
            raise ValueError(
                f"unknown provider {ref.provider!r} in {text!r} "
                f"(known: {', '.join(sorted(providers))})"
            )
        if ref in refs:
            raise ValueError(
                f"{str(ref)!r} is listed twice; list each model once, primary first, then fallbacks"
            )
        refs.append(ref)
    return tuple(refs)


@dataclass(frozen=True)
class Binding:
    alias: str
    models: tuple[ModelRef, ...]
    #: ``unpriced_ok = true``: ``llmring lock verify`` accepts this binding's models unpriced
    unpriced_ok: bool = False


@dataclass(frozen=True)
class Price:
    """One ``[prices."provider:model"]`` table: US dollars per million tokens.

    ``cache_read`` and ``cache_write`` default to ``input`` (cached prompt tokens cost what
    uncached ones do unless the table says otherwise); all zeros mark a model free.
    """

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


@dataclass(frozen=True)
class Profile:
    name: str
    bindings: Mapping[str, Binding]


@dataclass(frozen=True)
class ProviderEntry:
    """One ``[providers.<name>]`` table: an extra endpoint, never a key value."""

    name: str
    type: str
    base_url: str | None = None
    api_key_env: str | None = None
    timeouts: StreamTimeouts | None = None
    max_retries: int | None = None
    #: bill this endpoint at a ``genai-prices`` provider's prices (a proxy in front of one)
    priced_as: str | None = None


@dataclass(frozen=True)
class ReceiptsEntry:
    """The ``[receipts]`` table: where this project's receipts go (docs/receipts.md)."""

    #: the store URL as written (``sqlite:///receipts.db``, ``off``)
    url: str
    #: the store it names (a SQLite path is relative to the lockfile's directory); ``None``: off
    store: StoreURL | None
    #: keep prompts and replies in the receipts
    content: bool = False


@dataclass(frozen=True)
class Lockfile:
    """A parsed lockfile. ``path`` is ``None`` for one built in memory."""

    path: Path | None
    version: str
    default_profile: str
    profiles: Mapping[str, Profile]
    providers: Mapping[str, ProviderEntry] = field(default_factory=dict)
    #: ``[prices."provider:model"]``: prices that override or add to the price table
    prices: Mapping[str, Price] = field(default_factory=dict)
    bundled: bool = False
    #: ``sha256:<hex>`` of the text it was parsed from (``""`` when built in memory): what a
    #: receipt records, so a call can be traced to the exact model choices it was made under
    digest: str = ""
    #: the ``[receipts]`` table, when there is one
    receipts: ReceiptsEntry | None = None

    def profile(self, name: str | None = None) -> Profile:
        """The named profile (default: ``default_profile``); unknown → ``ProfileNotFoundError``."""
        name = name or self.default_profile
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ProfileNotFoundError(
                f"profile {name!r} is not in {self.path or 'the lockfile'} (profiles: {known}); "
                f"create it with: llmring bind ALIAS MODEL --profile {name}"
            ) from None
