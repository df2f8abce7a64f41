"""Racing ``llmring bind`` processes on one lockfile: how long until every edit has landed.

    .venv/bin/python bench/binds.py [--quick] [--rounds N]

The writers are the ones ``tests/test_lockfile_concurrency.py`` checks for correctness
(``tests/bind_race.py``): each imports llmring, waits for a start file, then runs
``llmring bind alias<i> mock:model<i> --file PATH``. The clock runs from creating the start file
until the last writer has exited, so imports are not counted; what is counted is the CLI's own
work plus the wait on the inter-process lock, under which edits serialise. Rounds alternate the
writer counts (the order rotates); figures are medians (min-max). A round counts only if every
writer exited 0 and the file holds every binding, or the row is marked failed.

Writes ``docs/benchmarks-binds.md`` and prints it.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from report import machine

from llmring.lockfile import load_lockfile
from tests.bind_race import ORIGINAL, finish, start_writers

OUT = ROOT / "docs" / "benchmarks-binds.md"
WRITERS = (1, 5, 20)


def one_round(writers: int) -> float | None:
    """Seconds from the start signal until ``writers`` binds have all exited; None if wrong."""
    with tempfile.TemporaryDirectory() as scratch:
        sync, project = Path(scratch, "sync"), Path(scratch, "project")
        sync.mkdir()
        project.mkdir()
        path = project / "llmring.lock"
        path.write_text(ORIGINAL, encoding="utf-8")
        procs, go = start_writers(sync, project, path, writers)
        started = time.perf_counter()
        go.touch()
        results = finish(procs)
        elapsed = time.perf_counter() - started
        bindings = load_lockfile(path).profile("default").bindings
        ok = all(code == 0 for code, _ in results) and len(bindings) == writers + 2
    return elapsed if ok else None


def measure(rounds: int) -> dict[int, list[float | None]]:
    times: dict[int, list[float | None]] = {n: [] for n in WRITERS}
    for number in range(rounds):
        order = WRITERS[number % len(WRITERS) :] + WRITERS[: number % len(WRITERS)]
        for writers in order:
            times[writers].append(one_round(writers))
            log(f"round {number + 1}/{rounds}: {writers} writer(s)")
    return times


def table(times: dict[int, list[float | None]]) -> str:
    lines = [
        "| writers | ms until all have exited, median (min-max) | ms per bind |",
        "|---|---|---|",
    ]
    for writers, values in times.items():
        if None in values:
            lines.append(f"| {writers} | failed | - |")
            continue
        ms = [value * 1000 for value in values if value is not None]
        median = statistics.median(ms)
        lines.append(
            f"| {writers} | {median:.0f} ({min(ms):.0f}-{max(ms):.0f}) | {median / writers:.0f} |"
        )
    return "\n".join(lines)


def write(times: dict[int, list[float | None]], rounds: int, command: str) -> str:
    text = (
        "# Benchmarks: concurrent `llmring bind`\n\n"
        f"Measured {datetime.date.today().isoformat()} on {machine()} with `{command}` "
        "(see bench/README.md).\n\n"
        "## Method\n\n"
        "Each writer is a fresh interpreter that imports llmring, then waits for a start file "
        "and runs `llmring bind alias<i> mock:model<i> --file llmring.lock` on the same "
        "lockfile (the processes of `tests/bind_race.py`, whose correctness "
        "`tests/test_lockfile_concurrency.py` checks). The time runs from the start file's "
        "creation until the last writer has exited: imports are excluded; parsing, the "
        "inter-process lock (edits serialise under it), the write (temp file + `os.replace`) "
        f"and process exit are included. {rounds} rounds alternate the writer counts; figures "
        "are medians (min-max). A round whose writers did not all exit 0, or whose file lacks a "
        "binding, marks the row failed.\n\n"
        "## Results\n\n"
        f"{table(times)}\n"
    )
    OUT.write_text(text, encoding="utf-8")
    return text


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 5)")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    command = (
        "python bench/binds.py"
        + (" --quick" if args.quick else "")
        + (f" --rounds {args.rounds}" if args.rounds else "")
    )
    started = time.perf_counter()
    print(write(measure(rounds), rounds, command))
    log(f"done in {time.perf_counter() - started:.0f}s; wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
