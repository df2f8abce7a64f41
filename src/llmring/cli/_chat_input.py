"""What ``llmring chat`` asks: the model, the prompt and the request options.

The arguments are ``[ALIAS_OR_MODEL] [PROMPT]``, so that both ``llmring chat "What is 2+2?"``
and ``echo hi | llmring chat mock:echo`` do what the user means. A single argument is the
model when it names one (an alias of the active profile, or ``provider:model`` with a known
provider) and the prompt otherwise; ``-m/--model`` names the model explicitly, as in llmring
1.x and simonw/llm. Without a model, ``$LLMRING_DEFAULT_ALIAS`` is used, else ``chatbot``.

Piped text is read when stdin is not a terminal and comes first, followed by the prompt after
one space (``cat notes.txt | llmring chat "summarise"``), as simonw/llm combines them. The
prompt ``-`` is stdin itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import typer

from llmring._defaults import default_alias

if TYPE_CHECKING:
    from llmring.resolver import Resolver

__all__ = ["extra_params", "model_and_prompt", "read_prompt"]

_MODEL_HINT = "'-m' / '--model'"
_OPTION_HINT = "'-o' / '--option'"


def model_and_prompt(
    resolver: Resolver, first: str | None, second: str | None, model: str | None
) -> tuple[str, str | None]:
    """The model to ask and the prompt argument (``None``: none given) from the arguments."""
    if model is not None:
        if second is not None:
            raise typer.BadParameter(
                f"the model is given twice, as {model!r} and as the first argument {first!r}; "
                "keep one, and quote the prompt as one argument",
                param_hint=_MODEL_HINT,
            )
        return model, first
    if second is not None:
        return first or "", second
    if first is not None and names_a_model(resolver, first):
        return first, None
    return default_alias(), first


def names_a_model(resolver: Resolver, word: str) -> bool:
    """Whether ``word`` is an alias of the active profile or ``provider:model`` of a known
    provider (so "Translate: bonjour" stays a prompt)."""
    from llmring.lockfile._model import parse_model_ref

    if ":" not in word:
        return word.strip() in resolver.aliases()
    try:
        ref = parse_model_ref(word)
    except ValueError:
        return False
    return ref.provider in resolver.providers


def read_prompt(argument: str | None) -> str:
    """The prompt: the argument, after any piped stdin; ``-`` reads stdin even from a terminal."""
    if argument == "-":
        text = _read_stdin()
    else:
        piped = "" if _stdin_is_terminal() else _read_stdin()
        text = " ".join(part for part in (piped, argument) if part)
    if not text.strip():
        raise typer.BadParameter(
            "no prompt: give it as an argument or pipe text on stdin", param_hint="'PROMPT'"
        )
    return text


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced stdin: nothing to read
        return True


def _read_stdin() -> str:
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text-only replacement (an embedding host); already decoded
        return str(sys.stdin.read())
    data = stream.read()
    try:
        return str(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(
            f"stdin is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})",
            param_hint="stdin",
        ) from None


def extra_params(pairs: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    """``-o KEY VALUE`` pairs as ``extra_params``: VALUE as JSON when it parses (``0.9``,
    ``true``, ``{"type": "enabled"}``), else the text itself."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        key = str(key).strip()
        if not key:
            raise typer.BadParameter("the KEY of -o KEY VALUE is empty", param_hint=_OPTION_HINT)
        if key in params:
            raise typer.BadParameter(
                f"{key!r} is given twice; give each option once", param_hint=_OPTION_HINT
            )
        params[key] = _json_or_text(str(value))
    return params


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value, parse_constant=_not_json)
    except ValueError:
        return value


def _not_json(constant: str) -> Any:
    """``NaN`` and ``Infinity`` are Python's extensions, not JSON: keep them as text."""
    raise ValueError(constant)
