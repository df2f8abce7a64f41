"""Changes to a lockfile's TOML document that leave everything else as it was.

These functions mutate a ``tomlkit`` document in place; :func:`llmring.lockfile.edit_lockfile`
wraps them with locking, validation and the atomic write. Only the edited binding changes:
other bindings, comments, blank lines and key order are untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

__all__ = ["remove_binding", "set_binding"]


def _profiles(document: tomlkit.TOMLDocument) -> Any:
    if "profiles" not in document:
        document["profiles"] = tomlkit.table(is_super_table=True)
    return document["profiles"]


def _bindings(document: tomlkit.TOMLDocument, profile: str, *, create: bool) -> AoT | None:
    profiles = _profiles(document) if create else document.get("profiles")
    if profiles is None or (profile not in profiles and not create):
        return None
    if profile not in profiles:
        table = tomlkit.table()
        table["name"] = profile
        profiles[profile] = table
    table = profiles[profile]
    bindings = table.get("bindings")
    if not isinstance(bindings, AoT):
        if not create:
            return None
        # `bindings = []` (the older format's empty profiles) becomes an array of tables
        existing = list(bindings or [])
        bindings = tomlkit.aot()
        for item in existing:
            bindings.append(item)
        table["bindings"] = bindings
    return bindings


def _models_array(models: Sequence[str]) -> Any:
    array = tomlkit.array()
    array.extend(models)
    return array


def set_binding(
    document: tomlkit.TOMLDocument, profile: str, alias: str, models: Sequence[str]
) -> bool:
    """Bind ``alias`` to ``models`` in ``profile`` (created when missing).

    Returns ``True`` when an existing binding was replaced. A binding in the older
    ``provider``/``model`` form is rewritten with ``models``.
    """
    bindings = _bindings(document, profile, create=True)
    assert bindings is not None
    for table in bindings:
        if table.get("alias") == alias:
            for legacy in ("provider", "model"):
                if legacy in table:
                    del table[legacy]
            table["models"] = _models_array(models)  # tomlkit keeps the line's comment
            return True
    table = tomlkit.table()
    table["alias"] = alias
    table["models"] = _models_array(models)
    table.add(tomlkit.nl())
    bindings.append(table)
    return False


def remove_binding(document: tomlkit.TOMLDocument, profile: str, alias: str) -> bool:
    """Remove ``alias`` from ``profile``; ``False`` when it was not bound there."""
    bindings = _bindings(document, profile, create=False)
    if bindings is None:
        return False
    for position, table in enumerate(bindings):
        if isinstance(table, Table) and table.get("alias") == alias:
            del bindings[position]
            return True
    return False
