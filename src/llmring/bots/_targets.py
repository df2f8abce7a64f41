"""What a sync bot's ``__call__`` does with a reply, per ``stream_target`` (one place for all).

``"stdout"`` prints the deltas as they arrive and returns the reply; ``"none"`` returns it
silently; ``"api"`` returns a generator of text deltas; ``"panel"`` a generator of the text so
far (for UI widgets that redraw the whole text).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Literal, get_args

from llmring.bots._runner import iterate_sync, run_sync

__all__ = ["StreamTarget", "check_target", "deliver"]

StreamTarget = Literal["stdout", "panel", "api", "none"]

OnDelta = Callable[[str], None]


def check_target(stream_target: str) -> StreamTarget:
    """``stream_target`` itself, or ``ValueError`` at construction for anything else."""
    if stream_target not in get_args(StreamTarget):
        raise ValueError(f"stream_target must be one of {', '.join(get_args(StreamTarget))}, "
                         f"not {stream_target!r}")
    return stream_target  # type: ignore[return-value]


def _print_delta(delta: str) -> None:
    sys.stdout.write(delta)
    sys.stdout.flush()


def _accumulate(deltas: Iterator[str]) -> Iterator[str]:
    text = ""
    for delta in deltas:
        text += delta
        yield text


def deliver(
    stream_target: StreamTarget,
    deltas: Callable[[], AsyncIterator[str]],
    complete: Callable[[OnDelta | None], Coroutine[Any, Any, Any]],
) -> Any:
    """Run one reply the way ``stream_target`` asks (see the module docstring)."""
    if stream_target == "api":
        return iterate_sync(deltas)
    if stream_target == "panel":
        return _accumulate(iterate_sync(deltas))
    on_delta = _print_delta if stream_target == "stdout" else None
    reply = run_sync(complete(on_delta))
    if on_delta is not None:
        _print_delta("\n")
    return reply
