"""The validated, read-only view of a lockfile, and the parser that builds it.

The parser accepts llmring's existing format unchanged: top-level ``version``,
``default_profile`` (and ``created_at``/``updated_at``/``metadata``, kept but ignored),
``[profiles.<name>]`` with ``[[profiles.<name>.bindings]]`` holding ``alias`` and ``models``
(or the older ``provider`` + ``model`` pair), plus the optional ``[providers.<name>]`` tables.
Every problem raises ``LockfileParseError`` naming the file, the profile and alias, and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError

from llmring.exceptions import LockfileParseError, ProfileNotFoundError
from llmring.providers._registry import BUILTIN_PROVIDERS
from llmring.schemas import StreamTimeouts

__all__ = ["Binding", "Lockfile", "ModelRef", "Profile", "ProviderEntry", "parse_lockfile", "parse_model_ref"]

_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROVIDER_KEYS = {
    "type", "base_url", "api_key_env", "timeout", "first_chunk_timeout", "idle_timeout", "max_retries",
}


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
    if not _PROVIDER_NAME.match(provider) or any(c.isspace() for c in model):
        raise ValueError(f"{text!r} is not a valid model reference; write 'provider:model'")
    return ModelRef(provider, model)


@dataclass(frozen=True)
class Binding:
    alias: str
    models: tuple[ModelRef, ...]


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


@dataclass(frozen=True)
class Lockfile:
    """A parsed lockfile. ``path`` is ``None`` for one built in memory."""

    path: Path | None
    version: str
    default_profile: str
    profiles: Mapping[str, Profile]
    providers: Mapping[str, ProviderEntry] = field(default_factory=dict)
    bundled: bool = False

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


class _Parser:
    """Walks the plain-Python form of a TOML document, raising errors that name the place."""

    def __init__(self, path: str, known_types: frozenset[str]) -> None:
        self.path = path
        self.known_types = known_types

    def fail(self, where: str, problem: str, key: str | None = None) -> LockfileParseError:
        return LockfileParseError(f"{self.path}: {where}: {problem}", path=self.path, key=key)

    def lockfile(self, data: dict[str, Any], path: Path | None) -> Lockfile:
        version = data.get("version", "1.0")
        default = data.get("default_profile", "default")
        for key, value in (("version", version), ("default_profile", default)):
            if not isinstance(value, str) or not value:
                raise self.fail(key, f"must be a non-empty string, got {value!r}", key)
        providers = self.providers(data.get("providers", {}))
        names = frozenset(BUILTIN_PROVIDERS) | frozenset(providers)
        profiles_data = data.get("profiles", {})
        if not isinstance(profiles_data, dict):
            raise self.fail("profiles", "must be a table of [profiles.<name>]", "profiles")
        profiles = {n: self.profile(n, p, names) for n, p in profiles_data.items()}
        return Lockfile(path, version, default, profiles, providers)

    def profile(self, name: str, data: Any, providers: frozenset[str]) -> Profile:
        where = f"profile {name!r}"
        if not isinstance(data, dict):
            raise self.fail(where, "must be a table", f"profiles.{name}")
        raw = data.get("bindings", [])
        if not isinstance(raw, list):
            raise self.fail(where, "bindings must be an array of [[bindings]] tables", "bindings")
        bindings: dict[str, Binding] = {}
        for item in raw:
            binding = self.binding(where, item, providers)
            if binding.alias in bindings:
                raise self.fail(where, f"alias {binding.alias!r} is bound twice", "alias")
            bindings[binding.alias] = binding
        return Profile(name, bindings)

    def binding(self, where: str, item: Any, providers: frozenset[str]) -> Binding:
        if not isinstance(item, dict):
            raise self.fail(where, "each binding must be a table with alias and models", "bindings")
        alias = item.get("alias")
        if not isinstance(alias, str) or not alias.strip() or ":" in alias or alias != alias.strip():
            raise self.fail(where, f"binding alias {alias!r} must be a non-empty name without ':' "
                            "or surrounding spaces", "alias")
        where = f"{where}, alias {alias!r}"
        models = item.get("models")
        if models is None and "provider" in item:  # the older one-model form
            models = [f"{item.get('provider')}:{item.get('model', '')}"]
        if not isinstance(models, list):
            raise self.fail(where, f"models must be a list like [\"openai:gpt-4o\"], got {models!r}", "models")
        if not models:
            raise self.fail(where, "models is empty; list at least one 'provider:model'", "models")
        refs = []
        for text in models:
            try:
                ref = parse_model_ref(text)
            except ValueError as exc:
                raise self.fail(where, f"models: {exc}", "models") from None
            if ref.provider not in providers:
                known = ", ".join(sorted(providers))
                raise self.fail(where, f"models: unknown provider {ref.provider!r} in {text!r} "
                                f"(known: {known})", "models")
            refs.append(ref)
        return Binding(alias, tuple(refs))

    def providers(self, data: Any) -> dict[str, ProviderEntry]:
        if not isinstance(data, dict):
            raise self.fail("providers", "must be a table of [providers.<name>]", "providers")
        return {name: self.provider(name, table) for name, table in data.items()}

    def provider(self, name: str, table: Any) -> ProviderEntry:
        where = f"[providers.{name}]"
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table", f"providers.{name}")
        if not _PROVIDER_NAME.match(name):
            raise self.fail(where, "provider names use letters, digits, '_', '-' and '.'", f"providers.{name}")
        if "api_key" in table:
            raise self.fail(where, "never put an API key in the lockfile; set api_key_env to the "
                            "name of the environment variable that holds it", "api_key")
        unknown = sorted(set(table) - _PROVIDER_KEYS)
        if unknown:
            raise self.fail(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_PROVIDER_KEYS))})", unknown[0])
        kind = table.get("type", name)
        if kind not in self.known_types:
            raise self.fail(where, f"type {kind!r} is not a provider type (one of: {', '.join(sorted(self.known_types))})", "type")
        base_url = self.optional_str(where, table, "base_url")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise self.fail(where, f"base_url must start with http:// or https://, got {base_url!r}", "base_url")
        key_env = self.optional_str(where, table, "api_key_env")
        if key_env is not None and not _ENV_NAME.match(key_env):
            raise self.fail(where, "api_key_env takes the NAME of an environment variable "
                            "(like OPENAI_API_KEY), not a key", "api_key_env")
        retries = table.get("max_retries")
        if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
            raise self.fail(where, f"max_retries must be a whole number >= 0, got {retries!r}", "max_retries")
        return ProviderEntry(name, kind, base_url, key_env, self.timeouts(where, table), retries)

    def optional_str(self, where: str, table: dict[str, Any], key: str) -> str | None:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.fail(where, f"{key} must be a non-empty string, got {value!r}", key)
        return value

    def timeouts(self, where: str, table: dict[str, Any]) -> StreamTimeouts | None:
        values = {}
        for key, field_name in (("timeout", "total"), ("first_chunk_timeout", "first_chunk"), ("idle_timeout", "idle")):
            value = table.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise self.fail(where, f"{key} must be a number of seconds >= 0, got {value!r}", key)
            values[field_name] = float(value)
        return StreamTimeouts(**values) if values else None


def parse_lockfile(text: str, path: Path | None) -> tuple[tomlkit.TOMLDocument, Lockfile]:
    """Parse lockfile text into the editable TOML document and its validated view."""
    label = str(path) if path else "<lockfile>"
    try:
        document = tomlkit.parse(text)
    except ParseError as exc:
        raise LockfileParseError(
            f"{label}:{exc.line}:{exc.col}: invalid TOML: {_toml_problem(exc)}",
            path=label,
            line=exc.line,
        ) from None
    parser = _Parser(label, frozenset(BUILTIN_PROVIDERS))
    return document, parser.lockfile(document.unwrap(), path)


def _toml_problem(exc: ParseError) -> str:
    # tomlkit's message ends with " at line L col C"; the location is already in front.
    message = str(exc)
    return re.sub(r" at line \d+ col \d+$", "", message)
