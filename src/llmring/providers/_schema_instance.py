"""A deterministic instance of a JSON schema: what the mock answers to ``response_format``.

Code that asks for structured output (``StructuredBot``, ``response_format={"type":
"json_schema", ...}``) must be testable offline, so the mock replies with JSON that validates
against the schema it was given. The rules cover what pydantic emits: objects (every property,
required or not, while the value is shallow; only the required ones deeper down), arrays (one
item, or ``minItems``; ``prefixItems`` for tuples), strings (common ``format`` values, length
bounds), integers and numbers (bounds, ``multipleOf``), booleans, ``null``, ``enum``,
``const``, ``anyOf``/``oneOf`` (the first branch that is not ``null``; deep down, ``null`` when
allowed, so recursive models end), ``allOf`` (merged) and ``$ref`` into ``$defs``. ``pattern``
is not honoured: no generator can satisfy every regular expression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from llmring.exceptions import ConfigurationError

__all__ = ["schema_instance"]

#: below this nesting depth optional properties are filled in and arrays get one item
_SHALLOW = 3
#: a schema that still needs a value this deep has no finite instance (``child: Node``)
_BOTTOMLESS = 64

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "duration": "PT1S",
    "email": "mock@example.com",
    "idn-email": "mock@example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "uri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def schema_instance(schema: Mapping[str, Any]) -> Any:
    """A value that validates against ``schema`` (``pattern`` aside); the same every time.

    Raises ``ConfigurationError`` for a ``$ref`` that points nowhere, or a schema that only
    infinite values satisfy.
    """
    return _Builder(schema).value(schema, 0, 0)


class _Builder:
    """Walks one schema; ``depth`` decides how much optional structure is filled in, ``index``
    (an item's position) varies scalars so that ``uniqueItems`` arrays hold distinct items."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def value(self, schema: Any, depth: int, index: int) -> Any:
        if depth > _BOTTOMLESS:
            raise ConfigurationError(
                "the response_format schema has no finite instance "
                "(a required value contains itself)"
            )
        if not isinstance(schema, Mapping) or not schema:
            return "mock" if schema is not False else None
        schema = self.resolved(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][index % len(schema["enum"])]
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            return self.value(self.pick(branches, depth), depth + 1, index)
        kind = self.kind(schema, depth)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        return _scalar(kind, schema, index)

    def resolved(self, schema: Mapping[str, Any], hops: int = 0) -> Mapping[str, Any]:
        """``$ref`` followed (its siblings kept) and ``allOf`` merged into one schema."""
        if hops > _BOTTOMLESS:
            raise ConfigurationError("response_format schema: $ref or allOf refer to themselves")
        if "$ref" in schema:
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            return self.resolved({**self.target(schema["$ref"]), **siblings}, hops + 1)
        parts = schema.get("allOf")
        if not parts:
            return schema
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            part = self.resolved(part, hops + 1) if isinstance(part, Mapping) else {}
            properties = {**merged.get("properties", {}), **part.get("properties", {})}
            required = [*merged.get("required", []), *part.get("required", [])]
            merged.update(part)
            if properties:
                merged["properties"] = properties
            if required:
                merged["required"] = list(dict.fromkeys(required))
        return merged

    def target(self, ref: Any) -> Mapping[str, Any]:
        node: Any = self.root
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise ConfigurationError(
                f"response_format schema: $ref {ref!r} is not local "
                "(only '#/...' references, as pydantic writes them)"
            )
        for step in filter(None, ref[1:].split("/")):
            step = step.replace("~1", "/").replace("~0", "~")
            node = node.get(step) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping):
            raise ConfigurationError(f"response_format schema: $ref {ref!r} points nowhere")
        return node

    def pick(self, branches: list[Any], depth: int) -> Any:
        """The first branch that is not ``null``; deep down, ``null`` if it is allowed."""
        nulls = [b for b in branches if isinstance(b, Mapping) and b.get("type") == "null"]
        others = [b for b in branches if b not in nulls]
        if nulls and (depth >= _SHALLOW or not others):
            return nulls[0]
        return others[0]

    @staticmethod
    def kind(schema: Mapping[str, Any], depth: int) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            others = [k for k in kind if k != "null"]
            kind = "null" if not others or (depth >= _SHALLOW and "null" in kind) else others[0]
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        return "array" if "items" in schema or "prefixItems" in schema else "string"

    def object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        result = {
            name: self.value(sub, depth + 1, 0)
            for name, sub in properties.items()
            if name in required or depth < _SHALLOW
        }
        extra = schema.get("additionalProperties")
        for number in range(len(result), int(schema.get("minProperties", 0))):
            result[f"key{number + 1}"] = self.value(
                extra if isinstance(extra, Mapping) else {}, depth + 1, number
            )
        return result

    def array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items")
        wanted = int(schema.get("minItems", 0))
        if depth < _SHALLOW and not prefix:
            wanted = max(wanted, 1)
        if "maxItems" in schema:
            wanted = min(wanted, int(schema["maxItems"]))
        if items is False:  # a closed tuple: exactly its prefix
            wanted = min(wanted, len(prefix))
        count = max(wanted, len(prefix))
        return [
            self.value(prefix[i] if i < len(prefix) else items or {}, depth + 1, i)
            for i in range(count)
        ]


def _scalar(kind: str, schema: Mapping[str, Any], index: int) -> Any:
    if kind == "integer":
        return int(_number(schema, 1 + index, integer=True))
    if kind == "number":
        return _number(schema, 1.5 + index, integer=False)
    if kind == "boolean":
        return index % 2 == 0
    if kind == "null":
        return None
    return _string(schema, index)


def _string(schema: Mapping[str, Any], index: int) -> str:
    text = _FORMATS.get(schema.get("format", ""), "mock")
    if index and text == "mock":
        text = f"mock{index + 1}"  # distinct items for uniqueItems
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if len(text) < low:
        text += "x" * (low - len(text))
    return text if high is None else text[: int(high)]


def _number(schema: Mapping[str, Any], preferred: float, *, integer: bool) -> float:
    """``preferred`` moved into the bounds (then to a multiple of ``multipleOf`` there)."""
    low, high = _bounds(schema, integer)
    value = preferred
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    if integer:
        value = math.ceil(value) if high is None or math.ceil(value) <= high else math.floor(value)
    multiple = schema.get("multipleOf")
    if multiple:
        value = math.ceil(value / multiple) * multiple
        if high is not None and value > high:
            value = math.floor(high / multiple) * multiple
    return value


def _bounds(schema: Mapping[str, Any], integer: bool) -> tuple[float | None, float | None]:
    """The closed interval allowed; for numbers, exclusive bounds are moved a hair inwards."""
    lows, highs = [schema.get("minimum")], [schema.get("maximum")]
    low_x, high_x = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if integer:
        lows = [None if v is None else math.ceil(v) for v in lows]
        highs = [None if v is None else math.floor(v) for v in highs]
        lows.append(None if low_x is None else math.floor(low_x) + 1)
        highs.append(None if high_x is None else math.ceil(high_x) - 1)
    else:
        gap = _gap(low_x, high_x)
        lows.append(None if low_x is None else low_x + gap)
        highs.append(None if high_x is None else high_x - gap)
    low = max((v for v in lows if v is not None), default=None)
    high = min((v for v in highs if v is not None), default=None)
    return low, high


def _gap(low: float | None, high: float | None) -> float:
    """How far inside an exclusive float bound to stay: a quarter of the interval, at most 0.5."""
    if low is not None and high is not None:
        return min(0.5, (high - low) / 4)
    return 0.5
