"""Reading a model's JSON reply: fences, validation errors, and best-effort partial objects.

A *partial object* is what the JSON text so far already says, as an instance of the model:

* the text is parsed with ``pydantic_core.from_json(..., allow_partial="trailing-strings")``,
  so an unfinished last string (or number) counts with the characters that have arrived;
* each field that arrived is validated **on its own** against its annotation (constraints
  included); a nested model (or a list of them, or an optional one) that does not validate yet
  is built the same way, recursively; a value that still does not validate is left out, and
  list items that do not validate are dropped;
* the object is made with ``model_construct``: fields not (validly) arrived read ``None``, or
  their default when they have one, and ``model_fields_set`` names the fields that did arrive.

Partials are never validated as a whole (the model's own validators do not run), because a
required field that has not arrived yet would fail every model; the complete reply always is.
Pydantic's own ``experimental_allow_partial`` does not help here: it rejects a model whose
required fields are missing, and an incomplete nested model fails the whole object.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import from_json

__all__ = ["feedback", "format_errors", "partial_object", "salvage", "strip_fences"]

M = TypeVar("M", bound=BaseModel)

# One Markdown code fence around the whole reply; the closing fence may not have arrived yet.
_FENCE = re.compile(r"\A\s*```[\w+.-]*[ \t]*\r?\n(?P<body>.*?)(?:\r?\n[ \t]*```\s*)?\Z", re.DOTALL)
_SKIP = object()  # a value that does not validate (yet): left out of the partial
_adapters: dict[Any, TypeAdapter[Any]] = {}
_MAX_ADAPTERS = 1024  # models made on the fly (create_model) must not grow the cache forever


def strip_fences(text: str) -> str:
    """The reply without a Markdown fence around it (```json ... ```), which models often add.

    Only a fence around the whole reply is removed; JSON is never searched for inside prose.
    """
    match = _FENCE.match(text)
    return match.group("body") if match else text


def format_errors(exc: ValidationError) -> str:
    """One line per problem, ``location: message`` (no documentation links): what the model
    is shown on a retry and what :class:`StructuredOutputError` lists."""
    lines = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"])
        lines.append(f"{location}: {error['msg']}" if location else error["msg"])
    return "\n".join(lines)


def feedback(exc: ValidationError) -> str:
    """The user turn that asks the model to correct a rejected reply."""
    return (
        f"Your reply was rejected:\n{format_errors(exc)}\n"
        "Reply again with only the corrected JSON object, matching the schema."
    )


def partial_object(model: type[M], text: str) -> M | None:
    """The partial object of ``text`` (see the module docstring), or ``None`` while the text
    does not start a JSON object."""
    try:
        data = from_json(strip_fences(text), allow_partial="trailing-strings")
    except ValueError:
        return None
    return _build(model, data) if isinstance(data, dict) else None


def salvage(model: type[M], text: str) -> M:
    """What a failed reply still says: its partial object, or (when it is no JSON object at
    all) the empty one, with every field ``None`` or its default."""
    partial = partial_object(model, text)
    return partial if partial is not None else _build(model, {})


def _build(model: type[M], data: dict[str, Any]) -> M:
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = _json_key(name, field)
        if key in data:
            value = _value(_annotation(field), data[key])
            if value is not _SKIP:
                values[name] = value
    missing = {
        name: None
        for name, field in model.model_fields.items()
        if name not in values and field.is_required()
    }
    return model.model_construct(_fields_set=set(values), **values, **missing)


def _json_key(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    return alias or name


def _annotation(field: FieldInfo) -> Any:
    # constraints (min_length, ge...) live in ``metadata``, not in ``annotation``
    if field.metadata:
        return Annotated[(field.annotation, *field.metadata)]
    return field.annotation


def _value(annotation: Any, raw: Any) -> Any:
    try:
        return _adapter(annotation).validate_python(raw)
    except ValidationError:
        pass
    inner = _unwrap(annotation)
    if isinstance(raw, dict) and isinstance(inner, type) and issubclass(inner, BaseModel):
        return _build(inner, raw)
    if isinstance(raw, list) and get_origin(inner) is list:
        (item_type,) = get_args(inner) or (Any,)
        return [v for v in (_value(item_type, item) for item in raw) if v is not _SKIP]
    return _SKIP


def _unwrap(annotation: Any) -> Any:
    """``X`` from ``Annotated[X, ...]`` and ``X | None``; other unions stay as they are."""
    if get_origin(annotation) is Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return _unwrap(options[0])
    return annotation


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    """Adapters are costly to build and a partial is rebuilt on every chunk: cache them."""
    try:
        adapter = _adapters.get(annotation)
    except TypeError:  # unhashable metadata
        return TypeAdapter(annotation)
    if adapter is None:
        if len(_adapters) >= _MAX_ADAPTERS:
            _adapters.clear()
        adapter = _adapters[annotation] = TypeAdapter(annotation)
    return adapter
