"""The lockfile parser's base: where a failure is (file, line, key) and the checks every
table shares. ``_parse`` walks the file; ``_parse_tables`` reads the accounting tables."""

from __future__ import annotations

import difflib
import math
from typing import Any

from llmring.exceptions import LockfileParseError
from llmring.lockfile._scan import KeyPath, scan
from llmring.providers._registry import BUILTIN_PROVIDERS

__all__ = ["TableParser"]

_FALLBACK_HINT = "fallbacks go in a binding's models list, after the primary model"
_HINTS = {"fallback": _FALLBACK_HINT, "fallbacks": _FALLBACK_HINT}


def _unknown_key(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = _HINTS.get(key) or (
        f"did you mean {close[0]!r}?" if close else f"allowed here: {', '.join(allowed)}"
    )
    return f"unknown key {key!r} ({hint})"


class TableParser:
    """Knows the text being parsed, so that a failure names its line."""

    def __init__(self, label: str, text: str) -> None:
        self.label = label
        self.text = text
        self.known_types = frozenset(BUILTIN_PROVIDERS)

    def fail(self, at: KeyPath, where: str, problem: str, key: str | None) -> LockfileParseError:
        line = scan(self.text).line_of(at)
        place = f"{self.label}:{line}" if line else self.label
        return LockfileParseError(
            f"{place}: {where}: {problem}", path=self.label, line=line, key=key
        )

    def only_known_keys(
        self,
        at: KeyPath,
        where: str,
        table: dict[str, Any],
        allowed: tuple[str, ...],
        legacy: tuple[str, ...] = (),
    ) -> None:
        for key in table:
            if key not in allowed and key not in legacy:
                raise self.fail((*at, key), where, _unknown_key(key, allowed), key)

    def check_amount(self, at: KeyPath, where: str, key: str, value: Any, unit: str) -> float:
        """``value`` as a finite number >= 0 (of ``unit``), else the error naming ``key``."""
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise self.fail(
                (*at, key), where, f"{key} must be a number of {unit} >= 0, got {value!r}", key
            )
        return float(value)

    def optional_str(self, at: KeyPath, where: str, table: dict[str, Any], key: str) -> str | None:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.fail(
                (*at, key), where, f"{key} must be a non-empty string, got {value!r}", key
            )
        return value
