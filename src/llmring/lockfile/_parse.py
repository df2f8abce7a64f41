"""Lockfile text → a validated :class:`Lockfile`: the stdlib TOML parser, then one walk.

The walk accepts llmring's format (top-level ``version`` and ``default_profile``,
``[profiles.<name>]`` with ``[[profiles.<name>.bindings]]`` holding ``alias`` and ``models``,
``[providers.<name>]`` and ``[prices."provider:model"]`` tables) and llmring 1.x's files
unchanged: their ``created_at``, ``updated_at`` and ``[metadata]``, a profile's
``registry_versions``, a binding's ``constraints`` and the older ``provider`` + ``model`` pair
are accepted and ignored. Any other key is an error, so a misspelt ``model = [...]`` or
``fallback = ...`` is not silently ignored.

Every problem raises ``LockfileParseError`` naming the file and line, the profile and alias,
and the key. Lines are found by scanning the text (``_scan.py``) only when there is a problem
to report, so a valid file costs just the parse and the walk.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

from llmring.exceptions import LockfileParseError
from llmring.lockfile._model import (
    _PROVIDER_NAME,
    Binding,
    Lockfile,
    Profile,
    ProviderEntry,
    alias_problem,
    parse_models,
    profile_problem,
)
from llmring.lockfile._parse_tables import AccountingTables
from llmring.lockfile._scan import KeyPath, scan
from llmring.providers._registry import BUILTIN_PROVIDERS
from llmring.schemas import StreamTimeouts

__all__ = ["KNOWN_VERSIONS", "parse_lockfile", "syntax_error"]

#: The format versions this llmring reads (``version`` may also be left out).
KNOWN_VERSIONS = ("1.0",)

_TOP_KEYS = ("version", "default_profile", "profiles", "providers", "prices", "receipts")
_PROFILE_KEYS = ("name", "bindings")
_BINDING_KEYS = ("alias", "models", "unpriced_ok")
_PROVIDER_KEYS = (
    "type",
    "base_url",
    "api_key_env",
    "timeout",
    "first_chunk_timeout",
    "idle_timeout",
    "max_retries",
    "priced_as",
)
# llmring 1.x wrote these; they load and are left as they are.
_LEGACY_TOP = ("created_at", "updated_at", "metadata")
_LEGACY_PROFILE = ("registry_versions",)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_POSITION = re.compile(
    r"(?P<problem>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)", re.DOTALL
)


class _Parser(AccountingTables):
    """Walks the parsed data; a failure looks up its line in the text."""

    def lockfile(self, data: dict[str, Any], path: Path | None) -> Lockfile:
        self.only_known_keys((), "top level", data, _TOP_KEYS, _LEGACY_TOP)
        version = data.get("version", KNOWN_VERSIONS[0])
        default = data.get("default_profile", "default")
        for key, value in (("version", version), ("default_profile", default)):
            if not isinstance(value, str) or not value:
                raise self.fail((key,), key, f"must be a non-empty string, got {value!r}", key)
        if version not in KNOWN_VERSIONS:
            raise self.fail(
                ("version",),
                "version",
                f"unknown format {version!r}: this llmring "
                f"reads version {' or '.join(map(repr, KNOWN_VERSIONS))}",
                "version",
            )
        providers = self.providers(data.get("providers", {}))
        names = frozenset(BUILTIN_PROVIDERS) | frozenset(providers)
        profiles_data = data.get("profiles", {})
        if not isinstance(profiles_data, dict):
            raise self.fail(
                ("profiles",), "profiles", "must be a table of [profiles.<name>]", "profiles"
            )
        profiles = {n: self.profile(n, p, names) for n, p in profiles_data.items()}
        prices = self.prices(data.get("prices", {}), names)
        receipts = self.receipts(data["receipts"], path) if "receipts" in data else None
        return Lockfile(
            path,
            version,
            default,
            profiles,
            providers,
            prices,
            digest=text_digest(self.text),
            receipts=receipts,
        )

    def profile(self, name: str, data: Any, providers: frozenset[str]) -> Profile:
        where, at = f"profile {name!r}", ("profiles", name)
        problem = profile_problem(name)
        if problem:
            raise self.fail(at, where, problem, f"profiles.{name}")
        if not isinstance(data, dict):
            raise self.fail(at, where, "must be a table", f"profiles.{name}")
        self.only_known_keys(at, where, data, _PROFILE_KEYS, _LEGACY_PROFILE)
        raw = data.get("bindings", [])
        if not isinstance(raw, list):
            raise self.fail(
                (*at, "bindings"),
                where,
                "bindings must be an array of [[bindings]] tables",
                "bindings",
            )
        bindings: dict[str, Binding] = {}
        for index, item in enumerate(raw):
            binding = self.binding(where, (*at, "bindings", index), item, providers)
            if binding.alias in bindings:
                raise self.fail(
                    (*at, "bindings", index, "alias"),
                    where,
                    f"alias {binding.alias!r} is bound twice",
                    "alias",
                )
            bindings[binding.alias] = binding
        return Profile(name, bindings)

    def binding(self, where: str, at: KeyPath, item: Any, providers: frozenset[str]) -> Binding:
        if not isinstance(item, dict):
            raise self.fail(
                at, where, "each binding must be a table with alias and models", "bindings"
            )
        # the older one-model form: provider = "openai" + model = "gpt-4o"
        legacy = ("constraints", "provider", "model") if "provider" in item else ("constraints",)
        self.only_known_keys(at, where, item, _BINDING_KEYS, legacy)
        alias = item.get("alias")
        problem = alias_problem(alias)
        if problem or not isinstance(alias, str):
            raise self.fail((*at, "alias"), where, f"binding {problem}", "alias")
        where = f"{where}, alias {alias!r}"
        models = item.get("models")
        if "provider" in item:
            if models is not None:
                raise self.fail(
                    (*at, "provider"),
                    where,
                    "give models, or the older provider + model pair, not both",
                    "provider",
                )
            models = [f"{item['provider']}:{item.get('model', '')}"]
        if not isinstance(models, list):
            raise self.fail(
                (*at, "models"),
                where,
                f'models must be a list like ["openai:gpt-4o"], got {models!r}',
                "models",
            )
        if not models:
            raise self.fail(
                (*at, "models"),
                where,
                "models is empty; list at least one 'provider:model'",
                "models",
            )
        try:
            refs = parse_models(models, providers)
        except ValueError as exc:
            raise self.fail((*at, "models"), where, f"models: {exc}", "models") from None
        unpriced_ok = item.get("unpriced_ok", False)
        if not isinstance(unpriced_ok, bool):
            raise self.fail(
                (*at, "unpriced_ok"),
                where,
                f"unpriced_ok must be true or false, got {unpriced_ok!r}",
                "unpriced_ok",
            )
        return Binding(alias, refs, unpriced_ok)

    def providers(self, data: Any) -> dict[str, ProviderEntry]:
        if not isinstance(data, dict):
            raise self.fail(
                ("providers",), "providers", "must be a table of [providers.<name>]", "providers"
            )
        return {name: self.provider(name, table) for name, table in data.items()}

    def provider(self, name: str, table: Any) -> ProviderEntry:
        where, at = f"[providers.{name}]", ("providers", name)
        if not isinstance(table, dict):
            raise self.fail(at, where, "must be a table", f"providers.{name}")
        if not _PROVIDER_NAME.match(name):
            raise self.fail(
                at,
                where,
                "provider names use letters, digits, '_', '-' and '.'",
                f"providers.{name}",
            )
        if "api_key" in table:
            raise self.fail(
                (*at, "api_key"),
                where,
                "never put an API key in the lockfile; set "
                "api_key_env to the name of the environment variable that holds it",
                "api_key",
            )
        self.only_known_keys(at, where, table, _PROVIDER_KEYS)
        kind = table.get("type", name)
        if kind not in self.known_types:
            raise self.fail(
                (*at, "type"),
                where,
                f"type {kind!r} is not a provider type "
                f"(one of: {', '.join(sorted(self.known_types))})",
                "type",
            )
        base_url = self.optional_str(at, where, table, "base_url")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise self.fail(
                (*at, "base_url"),
                where,
                f"base_url must start with http:// or https://, got {base_url!r}",
                "base_url",
            )
        key_env = self.optional_str(at, where, table, "api_key_env")
        if key_env is not None and not _ENV_NAME.match(key_env):
            raise self.fail(
                (*at, "api_key_env"),
                where,
                "api_key_env takes the NAME of an "
                "environment variable (like OPENAI_API_KEY), not a key",
                "api_key_env",
            )
        retries = table.get("max_retries")
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
        ):
            raise self.fail(
                (*at, "max_retries"),
                where,
                f"max_retries must be a whole number >= 0, got {retries!r}",
                "max_retries",
            )
        priced_as = self.optional_str(at, where, table, "priced_as")
        return ProviderEntry(
            name, kind, base_url, key_env, self.timeouts(at, where, table), retries, priced_as
        )

    def timeouts(self, at: KeyPath, where: str, table: dict[str, Any]) -> StreamTimeouts | None:
        values = {}
        for key, field_name in (
            ("timeout", "total"),
            ("first_chunk_timeout", "first_chunk"),
            ("idle_timeout", "idle"),
        ):
            value = table.get(key)
            if value is None:
                continue
            values[field_name] = self.check_amount(at, where, key, value, "seconds")
        return StreamTimeouts(**values) if values else None


def syntax_error(label: str, text: str, exc: tomllib.TOMLDecodeError) -> LockfileParseError:
    """A TOML syntax error as ``file:line:col: invalid TOML: problem``. An array, inline table
    or string left open is reported where it was opened, not where the parser gave up."""
    match = _POSITION.fullmatch(str(exc))
    problem = match["problem"] if match else str(exc)
    line = int(match["line"]) if match and match["line"] else None
    column = f":{match['col']}" if match and match["col"] else ""
    unclosed = scan(text).unclosed
    if unclosed is not None and (line is None or unclosed.line < line):
        stopped = "" if line is None else f" (the parser stopped at line {line}: {problem})"
        if problem.startswith(("Unclosed", "Unterminated")):
            stopped = ""
        line, column = unclosed.line + 1, ""
        problem = f"the {unclosed.kind} opened on line {line} is never closed{stopped}"
    if line is None:  # the end of the file
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        problem += " at the end of the file"
    return LockfileParseError(
        f"{label}:{line}{column}: invalid TOML: {problem}", path=label, line=line
    )


def parse_lockfile(text: str, path: Path | None = None) -> Lockfile:
    """Parse and validate lockfile text (``path`` names it in errors and on the result)."""
    label = str(path) if path else "<lockfile>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise syntax_error(label, text, exc) from None
    return _Parser(label, text).lockfile(data, path)


def text_digest(text: str) -> str:
    """``sha256:<hex>`` of lockfile text, line endings normalised (a CRLF checkout of the same
    file has the same digest)."""
    normalised = text.replace("\r\n", "\n").encode("utf-8")
    return "sha256:" + hashlib.sha256(normalised).hexdigest()
