"""Changes to a lockfile's TOML document that leave everything else as it was.

:func:`set_binding` changes a ``tomlkit`` document in place and :func:`remove_binding` changes
text; :func:`llmring.lockfile.edit_lockfile` and :func:`llmring.lockfile.rewrite_lockfile` wrap
them with locking, validation and the atomic write. Only the edited binding changes:
other bindings, comments, blank lines and key order are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import tomlkit
from tomlkit.items import AoT

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


def remove_binding(text: str, profile: str, alias: str) -> str | None:
    """``text`` without the binding of ``alias`` in ``profile``; ``None`` when it is not bound.

    Works on the text, because in a TOML document the comments above a table header belong to
    the table before it: deleting a table structurally would take the next binding's comment
    with it and leave its own. Here the binding's own comment lines (directly above its header)
    go with it and everything else stays. The result is checked against the structural
    deletion's data; if a file is too unusual for the text cut, the structural one is used.
    """
    document = tomlkit.parse(text)
    data = document.unwrap()
    bindings = data.get("profiles", {}).get(profile, {}).get("bindings")
    if not isinstance(bindings, list):
        return None
    index = next((i for i, b in enumerate(bindings)
                  if isinstance(b, dict) and b.get("alias") == alias), None)
    if index is None:
        return None
    del bindings[index]
    if not bindings:
        del data["profiles"][profile]["bindings"]
    cut = _cut_binding_block(text, profile, index)
    if cut is not None and tomlkit.parse(cut).unwrap() == data:
        return cut
    table = document["profiles"][profile]
    del table["bindings"][index]
    if not table["bindings"]:
        del table["bindings"]
    return tomlkit.dumps(document)


_BINDINGS_HEADER = re.compile(
    r"""^\s*\[\[\s*profiles\s*\.\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*\.\s*bindings\s*\]\]"""
)


def _is_header(line: str) -> bool:
    return line.lstrip().startswith("[")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _cut_binding_block(text: str, profile: str, index: int) -> str | None:
    lines = text.splitlines(keepends=True)
    headers = []
    for number, line in enumerate(lines):
        match = _BINDINGS_HEADER.match(line)
        if match and next(g for g in match.groups() if g is not None) == profile:
            headers.append(number)
    if index >= len(headers):
        return None
    start = headers[index]
    end = next((n for n in range(start + 1, len(lines)) if _is_header(lines[n])), len(lines))
    content_end = end  # the block's own lines stop before its trailing comments/blank lines
    while content_end > start + 1 and (not lines[content_end - 1].strip() or _is_comment(lines[content_end - 1])):
        content_end -= 1
    while content_end < end and not lines[content_end].strip():
        content_end += 1  # blank lines right after the block go with it
    label = start
    while label > 0 and _is_comment(lines[label - 1]):
        label -= 1
    return "".join(lines[:label] + lines[content_end:])
