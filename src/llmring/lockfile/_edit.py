"""Changes to a lockfile's text that leave everything else as it was.

:func:`bind_alias` and :func:`remove_binding` change text and are exact inverses: binding a
new alias and unbinding it gives back the file byte for byte, its comments included.
:func:`set_binding` changes a ``tomlkit`` document in place (for :func:`edit_lockfile`).
:func:`llmring.lockfile.rewrite_lockfile` wraps them with locking, validation and the atomic
write. Only the edited binding changes: other bindings, comments, blank lines and key order
are untouched.

Why text: in a TOML document the comment lines above a table header belong to the table
before it, so a structural append lands after the file's closing comments and a structural
delete takes the next table's comment. A binding's block is therefore found in the text
(``_scan.py``): its header, its keys and subtables, and the comment lines directly above
it. Every text change is checked against the same change made to the parsed data; a file too
unusual for the text change gets the structural one from ``tomlkit`` instead.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmring.lockfile._scan import scan

if TYPE_CHECKING:
    import tomlkit
    from tomlkit.items import AoT, Array

__all__ = ["bind_alias", "keep_line_endings", "remove_binding", "set_binding"]


def _profiles(document: tomlkit.TOMLDocument) -> Any:
    import tomlkit

    if "profiles" not in document:
        document["profiles"] = tomlkit.table(is_super_table=True)
    return document["profiles"]


def _bindings(document: tomlkit.TOMLDocument, profile: str, *, create: bool) -> AoT | None:
    import tomlkit
    from tomlkit.items import AoT

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
        # `bindings = []` (the older format's empty profiles), or an array of inline tables,
        # becomes an array of tables
        existing = list(bindings or [])
        bindings = tomlkit.aot()
        for item in existing:
            converted = tomlkit.table()
            converted.update(item.unwrap())
            bindings.append(converted)
        table["bindings"] = bindings
    return bindings


def _models_array(models: Sequence[str]) -> Array:
    import tomlkit

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
    import tomlkit

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


def keep_line_endings(original: str, new: str) -> str:
    """tomlkit writes new lines with LF; in a CRLF file, new lines get CRLF too."""
    if "\r\n" in original and "\n" not in original.replace("\r\n", ""):
        return re.sub(r"(?<!\r)\n", "\r\n", new)
    return new


def _lines(text: str) -> list[str]:
    """``text`` split after each LF only (``str.splitlines`` also splits at U+2028 and
    friends, which TOML allows inside strings and comments)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _binding_list(data: dict[str, Any], profile: str) -> list[Any] | None:
    profiles = data.get("profiles")
    table = profiles.get(profile) if isinstance(profiles, dict) else None
    bindings = table.get("bindings") if isinstance(table, dict) else None
    return bindings if isinstance(bindings, list) else None


def _index_of(bindings: list[Any] | None, alias: str) -> int | None:
    return next(
        (
            i
            for i, b in enumerate(bindings or [])
            if isinstance(b, dict) and b.get("alias") == alias
        ),
        None,
    )


def _loads_or_none(text: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def bind_alias(text: str, profile: str, alias: str, models: Sequence[str]) -> str:
    """``text`` with ``alias`` bound to ``models`` in ``profile`` (created when missing).

    A new alias is inserted after the profile's last binding, one blank line before it, so
    what followed that binding (the file's closing comments, the next table's comment) stays
    where it was. Rebinding an alias replaces only its ``models`` value (a comment on that
    line stays); a binding in the older ``provider``/``model`` form is rewritten with
    ``models`` by :func:`set_binding`.
    """
    data = tomllib.loads(text)
    bindings = _binding_list(data, profile)
    index = _index_of(bindings, alias)
    if index is None:
        edited = _insert_binding(text, profile, alias, models)
        table = data.setdefault("profiles", {}).setdefault(profile, {})
        table.setdefault("bindings", []).append({"alias": alias, "models": list(models)})
    else:
        assert bindings is not None
        edited = _replace_models(text, profile, index, models)
        bindings[index]["models"] = list(models)
    if edited is not None and _loads_or_none(edited) == data:
        return edited
    import tomlkit

    document = tomlkit.parse(text)
    set_binding(document, profile, alias, models)
    return keep_line_endings(text, tomlkit.dumps(document))


def _insert_binding(text: str, profile: str, alias: str, models: Sequence[str]) -> str | None:
    import tomlkit

    found = scan(text)
    headers = [
        entry.path
        for entry in found.entries
        if entry.kind == "array"
        and len(entry.path) == 4
        and entry.path[:3] == ("profiles", profile, "bindings")
    ]
    block = found.block(headers[-1] if headers else ("profiles", profile))
    if block is None:
        return None
    lines = _lines(text)
    newline = "\r\n" if keep_line_endings(text, "\n") == "\r\n" else "\n"
    end = block[1]
    if end == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    added = [
        newline,
        f"[[profiles.{tomlkit.key(profile).as_string()}.bindings]]{newline}",
        f"alias = {tomlkit.string(alias).as_string()}{newline}",
        f"models = {_models_array(models).as_string()}{newline}",
    ]
    return "".join(lines[:end] + added + lines[end:])


def _replace_models(text: str, profile: str, index: int, models: Sequence[str]) -> str | None:
    path = ("profiles", profile, "bindings", index, "models")
    span = next((entry.value for entry in scan(text).entries if entry.path == path), None)
    if span is None:
        return None
    return text[: span[0]] + _models_array(models).as_string() + text[span[1] :]


def remove_binding(text: str, profile: str, alias: str) -> str | None:
    """``text`` without the binding of ``alias`` in ``profile``; ``None`` when it is not bound.

    The binding's block goes with its own comment lines (directly above its header) and the
    blank lines that separate it from what precedes it (or, when nothing blank precedes it,
    from what follows): the inverse of :func:`bind_alias`. Everything else stays.
    """
    data = tomllib.loads(text)
    bindings = _binding_list(data, profile)
    index = _index_of(bindings, alias)
    if bindings is None or index is None:
        return None
    del bindings[index]
    if not bindings:
        del data["profiles"][profile]["bindings"]
    cut = _cut_binding(text, profile, index)
    if cut is not None and _loads_or_none(cut) == data:
        return cut
    import tomlkit

    document = tomlkit.parse(text)
    table = document["profiles"][profile]
    del table["bindings"][index]
    if not table["bindings"]:
        del table["bindings"]
    return tomlkit.dumps(document)


def _cut_binding(text: str, profile: str, index: int) -> str | None:
    block = scan(text).block(("profiles", profile, "bindings", index))
    if block is None:
        return None
    start, end = block
    lines = _lines(text)
    while start > 0 and _is_comment(lines[start - 1]):
        start -= 1  # its own comment, directly above its header
    before = start
    while before > 0 and _is_blank(lines[before - 1]):
        before -= 1
    if before < start:
        start = before
    else:
        while end < len(lines) and _is_blank(lines[end]):
            end += 1
    return "".join(lines[:start] + lines[end:])
