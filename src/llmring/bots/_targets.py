"""What a bot's call does with a reply, per ``stream_target`` (one place for all bots).

``"stdout"`` prints the deltas as they arrive (then a line break) and returns the reply, in
``await bot(...)`` as in a sync bot's ``bot(...)``. A sync chat bot's ``"none"`` returns it
silently, ``"api"`` returns a generator of text deltas, ``"panel"`` a generator of the text so
far (for UI widgets that redraw the whole text); an async bot prints only for ``"stdout"``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Literal, TypeVar, get_args

from llmring.bots._runner import iterate_sync, run_sync

__all__ = ["OnDelta", "StreamTarget", "check_target", "deliver", "printed"]

T = TypeVar("T")

StreamTarget = Literal["stdout", "panel", "api", "none"]

OnDelta = Callable[[str], None]


def check_target(stream_target: str) -> StreamTarget:
    """``stream_target`` itself, or ``ValueError`` at construction for anything else."""
    if stream_target not in get_args(StreamTarget):
        raise ValueError(
            f"stream_target must be one of {', '.join(get_args(StreamTarget))}, "
            f"not {stream_target!r}"
        )
    return stream_target  # type: ignore[return-value]


def _print_delta(delta: str) -> None:
    sys.stdout.write(delta)
    sys.stdout.flush()


def _accumulate(deltas: Iterator[str]) -> Iterator[str]:
    text = ""
    for delta in deltas:
        text += delta
        yield text


async def printed(
    stream_target: StreamTarget, run: Callable[[OnDelta | None], Coroutine[Any, Any, T]]
) -> T:
    """``run(on_delta)``, with ``on_delta`` printing each delta when ``stream_target`` is
    ``"stdout"`` (and a line break after the reply, if it printed anything)."""
    if stream_target != "stdout":
        return await run(None)
    shown = False

    def on_delta(delta: str) -> None:
        nonlocal shown
        shown = True
        _print_delta(delta)

    result = await run(on_delta)
    if shown:
        _print_delta("\n")
    return result


def deliver(
    stream_target: StreamTarget,
    deltas: Callable[[], AsyncIterator[str]],
    complete: Callable[[OnDelta | None], Coroutine[Any, Any, Any]],
) -> Any:
    """Run one reply of a sync chat bot the way ``stream_target`` asks (module docstring)."""
    if stream_target == "api":
        return iterate_sync(deltas)
    if stream_target == "panel":
        return _accumulate(iterate_sync(deltas))
    return run_sync(printed(stream_target, complete))
