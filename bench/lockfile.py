"""What reading and editing a large lockfile costs, in-process and offline.

    .venv/bin/python bench/lockfile.py [--aliases N] [--rounds N]

A generated lockfile with N aliases (default 10,000; two models each, a comment above every
binding, as ``llmring lock init`` writes them) is read the ways llmring reads it, and edited
once, each timed over alternating rounds (medians, min-max):

- ``tomllib.loads``: the stdlib parser alone, the floor for a read;
- ``tomlkit.parse``: the editing parser alone (what every read cost before it was replaced);
- ``load_lockfile``: discovery's read, parse and validation (what ``llmring aliases`` does);
- ``LLMRing()``: the facade's construction with that lockfile (the runtime path);
- ``bind (new alias)``, ``unbind``, ``bind (rebind)``: what ``llmring bind``/``unbind`` do
  (``rewrite_lockfile`` with ``bind_alias``/``remove_binding``: locked, validated, atomic);
- ``edit_lockfile (tomlkit)``: a rebind through the ``tomlkit`` document, the way every
  ``bind`` went before.

Prints a Markdown table; the figures quoted in docs/lockfile.md come from it.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import tomlkit
from report import machine  # bench/ is on sys.path when run as a script

from llmring import LLMRing
from llmring.lockfile import (
    bind_alias,
    edit_lockfile,
    load_lockfile,
    remove_binding,
    rewrite_lockfile,
    set_binding,
)


def lockfile_text(aliases: int) -> str:
    lines = [
        'version = "1.0"',
        'default_profile = "default"',
        "",
        "[profiles.default]",
        'name = "default"',
        "",
    ]
    for i in range(aliases):
        lines += [
            f"# alias{i}: generated",
            "[[profiles.default.bindings]]",
            f'alias = "alias{i}"',
            f'models = ["mock:model{i}", "mock:fallback{i}"]',
            "",
        ]
    return "\n".join(lines)


def contenders(path: Path) -> dict[str, Callable[[], object]]:
    rebinds = itertools.cycle([["mock:other", "mock:model0"], ["mock:model0", "mock:other"]])

    def edit(change: Callable[[str], str | None]) -> Callable[[], object]:
        return lambda: rewrite_lockfile(path, lambda text: change(text or "") or "")

    return {
        "tomllib.loads": lambda: tomllib.loads(path.read_text(encoding="utf-8")),
        "tomlkit.parse": lambda: tomlkit.parse(path.read_text(encoding="utf-8")),
        "load_lockfile": lambda: load_lockfile(path),
        "LLMRing()": lambda: LLMRing(path),
        "bind (new alias)": edit(lambda text: bind_alias(text, "default", "extra", ["mock:x"])),
        "unbind": edit(lambda text: remove_binding(text, "default", "extra")),
        "bind (rebind)": edit(lambda text: bind_alias(text, "default", "alias0", next(rebinds))),
        "edit_lockfile (tomlkit)": lambda: edit_lockfile(
            path, lambda document: set_binding(document, "default", "alias1", next(rebinds))
        ),
    }


def measure(path: Path, rounds: int) -> dict[str, list[float]]:
    runs = contenders(path)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times


def table(times: dict[str, list[float]]) -> str:
    rows = ["| step | median | min-max |", "|---|---:|---:|"]
    for name, values in times.items():
        rows.append(
            f"| `{name}` | {statistics.median(values) * 1000:.0f} ms | "
            f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aliases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "llmring.lock"
        path.write_text(lockfile_text(args.aliases), encoding="utf-8")
        size = path.stat().st_size
        times = measure(path, args.rounds)
    print(f"{args.aliases:,} aliases ({size / 1e6:.1f} MB), {args.rounds} rounds, {machine()}\n")
    print(table(times))


if __name__ == "__main__":
    main()
