"""Where things are in a lockfile's text: the line of a key, the lines of a table, the opener
of an array that is never closed.

The reader (``tomllib``) gives data without positions, which is what makes it fast. Positions
are needed only to report a problem or to cut and insert a binding's lines, so this scanner
runs only then. It follows just enough TOML for that: table headers, dotted and quoted keys
(decoded by ``tomllib`` itself, so quoting follows the spec), values spanning lines (arrays,
inline tables, multi-line strings) and comments. It never decides whether a file is valid:
the callers parse with ``tomllib`` and use the scan only for places.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Entry", "KeyPath", "Scan", "Unclosed", "scan"]

#: A key's place in the data: table keys, with the index of each array-of-tables element.
KeyPath = tuple[str | int, ...]

_TOKEN = re.compile(
    r"""
      (?P<nl>\n)
    | (?P<space>[ \t\r]+)
    | (?P<comment>\#[^\n]*)
    | (?P<multiline>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\""{0,2}
                   |'''(?:[^']|'(?!''))*'''(?:'{0,2}))
    | (?P<open_multiline>\"\"\"|''')
    | (?P<string>"(?:[^"\\\n]|\\.)*"|'[^'\n]*')
    | (?P<open_string>["'])
    | (?P<punct>[\[\]{}=])
    | (?P<word>[^\s"'\#\[\]{}=]+)
    """,
    re.VERBOSE | re.DOTALL,
)
_BARE_DOTTED = re.compile(r"[A-Za-z0-9_-]+(?:[ \t]*\.[ \t]*[A-Za-z0-9_-]+)*")
_OPENERS = {"[": ("]", "array"), "{": ("}", "inline table")}


@dataclass(frozen=True)
class Entry:
    """A table header (``[t]``), an array-of-tables header (``[[t]]``) or a ``key = value``;
    ``first``/``last`` are 0-based lines (a value may span several)."""

    kind: Literal["table", "array", "key"]
    path: KeyPath
    first: int
    last: int
    #: a key's value as character offsets ``[start, end)`` (its trailing comment excluded)
    value: tuple[int, int] | None = None


@dataclass(frozen=True)
class Unclosed:
    """An array, inline table or multi-line string opened on ``line`` (0-based) and never closed."""

    kind: str
    line: int


@dataclass
class Scan:
    entries: list[Entry] = field(default_factory=list)
    unclosed: Unclosed | None = None

    def line_of(self, path: KeyPath) -> int | None:
        """The 1-based line of ``path``, or of the nearest enclosing key or table that is
        written in the file (an inline table or array has no lines of its own)."""
        first: dict[KeyPath, int] = {}
        for entry in self.entries:  # a dotted key (a.b = 1) places its prefixes too
            for length in range(1, len(entry.path) + 1):
                first.setdefault(entry.path[:length], entry.first)
        for length in range(len(path), 0, -1):
            if path[:length] in first:
                return first[path[:length]] + 1
        return None

    def block(self, path: KeyPath) -> tuple[int, int] | None:
        """The lines ``[start, end)`` of the table with header ``path``: its header through its
        last key, its subtables included; comments and blank lines after it are not part of it."""
        for position, entry in enumerate(self.entries):
            if entry.kind != "key" and entry.path == path:
                end = entry.last
                for inner in self.entries[position + 1 :]:
                    if inner.kind != "key" and inner.path[: len(path)] != path:
                        break
                    end = max(end, inner.last)
                return entry.first, end + 1
        return None


def _key_path(raw: str) -> tuple[str, ...] | None:
    raw = raw.strip()
    if _BARE_DOTTED.fullmatch(raw):
        return tuple(part.strip() for part in raw.split("."))
    try:  # quoted keys: let the TOML parser decode them
        data: object = tomllib.loads(f"{raw} = 0")
    except tomllib.TOMLDecodeError:
        return None
    path = []
    while isinstance(data, dict) and len(data) == 1:
        ((key, data),) = data.items()
        path.append(key)
    return tuple(path)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_TOKEN.finditer(text))
        self.at = 0
        self.line = 0
        self.prefix: KeyPath = ()
        self.arrays: dict[KeyPath, int] = {}  # array-of-tables path → elements seen
        self.result = Scan()

    def next(self) -> re.Match[str] | None:
        if self.at >= len(self.tokens):
            return None
        token = self.tokens[self.at]
        self.at += 1
        if token.lastgroup == "nl":
            self.line += 1
        elif token.lastgroup == "multiline":
            self.line += token.group().count("\n")
        return token

    def run(self) -> Scan:
        while (token := self.next()) is not None:
            kind = token.lastgroup
            if kind in ("nl", "space", "comment"):
                continue
            if token.group() == "[":
                self.header(token)
            elif kind == "open_multiline":
                self.result.unclosed = Unclosed("multi-line string", self.line)
                break
            else:
                self.key_value(token)
        return self.result

    def skip_line(self) -> None:
        while (token := self.next()) is not None and token.lastgroup != "nl":
            pass

    def resolve(self, keys: tuple[str, ...]) -> KeyPath:
        """``keys`` with the current index after each array of tables they pass through."""
        path: KeyPath = ()
        for key in keys:
            path = (*path, key)
            if path in self.arrays:
                path = (*path, self.arrays[path] - 1)
        return path

    def header(self, opener: re.Match[str]) -> None:
        line = self.line
        is_array = (
            self.at < len(self.tokens)
            and self.tokens[self.at].group() == "["
            and self.tokens[self.at].start() == opener.end()
        )
        if is_array:
            self.next()
        start = self.tokens[self.at - 1].end()
        while (token := self.next()) is not None and token.group() != "]":
            if token.lastgroup == "nl":
                return  # a broken header: the TOML parser reports it
        if token is None:
            return
        keys = _key_path(self.text[start : token.start()])
        self.skip_line()
        if not keys:
            return
        if is_array:
            parent = (*self.resolve(keys[:-1]), keys[-1])
            index = self.arrays.get(parent, 0)
            self.arrays[parent] = index + 1
            self.prefix = (*parent, index)
        else:
            self.prefix = self.resolve(keys)
        self.result.entries.append(Entry("array" if is_array else "table", self.prefix, line, line))

    def key_value(self, first: re.Match[str]) -> None:
        line, start = self.line, first.start()
        token: re.Match[str] | None = first
        while token is not None and token.group() != "=":
            if token.lastgroup == "nl":
                return
            token = self.next()
        if token is None:
            return
        keys = _key_path(self.text[start : token.start()])
        value: list[int] = []
        last = self.skip_value(value)
        if keys:
            span = (value[0], value[-1]) if value else None
            self.result.entries.append(Entry("key", (*self.prefix, *keys), line, last, span))

    def skip_value(self, span: list[int]) -> int:
        """Consume a value (to the end of its last line); return that line. ``span`` gets the
        start and end offsets of the value's tokens."""
        open_: list[tuple[str, str, int]] = []  # (closer, kind, line) of each open bracket
        while (token := self.next()) is not None:
            text, kind = token.group(), token.lastgroup
            if kind == "nl" and not open_:
                return self.line - 1
            if kind not in ("nl", "space", "comment"):
                if span:
                    span[1] = token.end()
                else:
                    span += [token.start(), token.end()]
            if text in _OPENERS:
                open_.append((*_OPENERS[text], self.line))
            elif open_ and text == open_[-1][0]:
                open_.pop()
            elif kind == "open_multiline":
                self.result.unclosed = Unclosed("multi-line string", self.line)
                self.at = len(self.tokens)
            elif kind == "open_string" and not open_:
                self.skip_line()  # a string left open on its line: the parser reports that line
                return self.line - 1
        if open_ and self.result.unclosed is None:
            self.result.unclosed = Unclosed(open_[0][1], open_[0][2])
        return self.line


def scan(text: str) -> Scan:
    """The entries of ``text`` in file order, and what is left unclosed at its end."""
    return _Scanner(text).run()
