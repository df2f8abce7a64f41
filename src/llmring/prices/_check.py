"""``llmring lock verify``'s checks: offline, for CI, every problem named by alias and model.

A lockfile passes when it loads, its default profile exists, every alias of every profile
resolves, no line holds key material (the same detection that keeps keys out of messages,
``llmring._secrets``), and every bound model is priced (by the lockfile's ``[prices]`` or the
``genai-prices`` table) or its binding says ``unpriced_ok = true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmring._secrets import redact
from llmring.exceptions import LLMRingError
from llmring.prices._table import in_table, installed, table_missing, table_providers

if TYPE_CHECKING:
    from llmring.lockfile._model import Binding, Lockfile, ModelRef
    from llmring.prices import Prices

__all__ = ["lockfile_problems"]


def lockfile_problems(lockfile: Lockfile, text: str, prices: Prices) -> list[str]:
    """Every problem found, one line each (none: the lockfile passes)."""
    from llmring._configs import provider_configs
    from llmring.resolver import Resolver

    problems = _key_material(text)
    if lockfile.default_profile not in lockfile.profiles:
        problems.append(f"default_profile {lockfile.default_profile!r} names no [profiles.*]")
    configs = provider_configs(lockfile.providers)
    table = installed()
    if table:
        problems += _unknown_priced_as(lockfile)
    for name, profile in lockfile.profiles.items():
        resolver = Resolver(lockfile, configs, name)
        for alias, binding in profile.bindings.items():
            where = f"profile {name!r}, alias {alias!r}"
            try:
                resolver.resolve(alias)
            except LLMRingError as exc:
                problems.append(f"{where}: does not resolve: {exc}")
            problems += [f"{where}: {p}" for p in _unpriced(binding, prices, table)]
    return problems


def _unknown_priced_as(lockfile: Lockfile) -> list[str]:
    known = table_providers()
    return [
        f"[providers.{entry.name}]: priced_as {entry.priced_as!r} is not a provider of the price "
        f"table (run llmring models --json to see them)"
        for entry in lockfile.providers.values()
        if entry.priced_as is not None and entry.priced_as not in known
    ]


def _key_material(text: str) -> list[str]:
    """Lines that hold something shaped like a key, or a key variable's value (never quoted)."""
    return [
        f"line {number}: looks like key material; keep keys in the environment and name the "
        "variable with api_key_env"
        for number, line in enumerate(text.splitlines(), 1)
        if redact(line) != line
    ]


def _unpriced(binding: Binding, prices: Prices, table: bool) -> list[str]:
    if binding.unpriced_ok:
        return []
    problems = []
    for ref in binding.models:
        if str(ref) in prices.overrides or _is_mock(ref, prices):
            continue  # the offline mock never bills: no spend can go unaccounted
        if table and _in_table(ref, prices):
            continue
        why = "has no price in the lockfile"
        if not table:
            why += f", and {table_missing()}"
        elif prices.route(ref.provider) is None:
            why += " and its endpoint is not one the price table knows (see priced_as)"
        else:
            why += " or the price table"
        problems.append(
            f'{ref} {why}; add [prices."{ref}"] with input and output per million tokens, '
            "or unpriced_ok = true to the binding"
        )
    return problems


def _in_table(ref: ModelRef, prices: Prices) -> bool:
    billed_as = prices.route(ref.provider)
    return billed_as is not None and in_table(billed_as, ref.model) is not None


def _is_mock(ref: ModelRef, prices: Prices) -> bool:
    config = prices.providers.get(ref.provider)
    return config is not None and config.type == "mock"
