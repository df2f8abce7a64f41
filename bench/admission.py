"""What the admission check of a limited key costs on SQLite (in-process, offline).

    .venv/bin/python bench/admission.py [--checks N] [--processes P]

One SQLite file in a temporary directory (WAL, as ``llmring serve`` opens it), one key with an
rpm, a tpm and a budget (so every check does all three: prune the window, read it, read the
budget, insert the grant). Measured with ``time.perf_counter_ns`` around each call:

- **admit**: ``SQLiteAdmission.admit`` (one ``BEGIN IMMEDIATE`` transaction), µs;
- **settle**: ``SQLiteAdmission.settle`` of the grant (the stream's end, off the request
  path), µs;
- **admit, P processes**: the same in P processes at once on the same file and key (the
  workers of one host contending for the write lock), µs per check across all of them.

A thread checkpoints the WAL every 0.1 s meanwhile, as the gateway's receipt writer does (the
admission's connection never checkpoints: see ``SQLiteAdmission``). The limits are set high
enough that nothing is refused: the figure is the admitted path. The clock is the store's own
(injected): it moves 60 / ``--window`` seconds per check, so the window holds ``--window``
admitted requests, as a key running at an rpm of that much does. Prints
a Markdown table; docs/serve.md quotes it.

With ``--postgresql`` it also measures the same checks in a PostgreSQL store
(``PostgresAdmission``: one function call per check, the database's clock, so the window holds
every check of the last minute) on a throwaway PostgreSQL 15 started on loopback the way the
test suite starts it (``tests/postgres.py``; Debian's ``postgresql`` package), but with the
server's default durability (a commit that asks for it waits for its WAL flush), through the
gateway's pool.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path

from report import machine  # bench/ is on sys.path when run as a script

from llmring._receipts._admission import Ask, Grant, KeyLimits
from llmring._receipts._sqlite import SQLiteStore
from llmring._receipts._sqlite_admission import SQLiteAdmission

LIMITS = KeyLimits(rpm=10**9, tpm=10**12, budget_usd=10.0**9, budget_period="day")
PROCESSES = 2  # the workers of one host contending for the file's write lock
WINDOW = 600  # requests in a key's window


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, statistics.fmean(ordered)


class _Clock:
    """Wall-clock seconds moving ``step`` per call from now: a steady request rate."""

    def __init__(self, step: float) -> None:
        self.now = time.time()
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _run(
    path: Path, checks: int, key: str, settle: bool, window: int, gap: float = 0.0
) -> tuple[list[float], list[float]]:
    admission = SQLiteAdmission(path, clock=_Clock(60 / window))
    admitted, settled = [], []
    try:
        for _ in range(checks):
            started = time.perf_counter_ns()
            grant = admission.admit(Ask(key, LIMITS, tokens=500, cost_usd=0.001))
            admitted.append((time.perf_counter_ns() - started) / 1000)
            assert isinstance(grant, Grant)
            if settle:
                started = time.perf_counter_ns()
                admission.settle(grant, 300, 0.0005)
                settled.append((time.perf_counter_ns() - started) / 1000)
            time.sleep(gap)
    finally:
        admission.close()
    return admitted, settled


def _postgres(checks: int) -> tuple[list[float], list[float]]:
    """``checks`` admits and settles in a fresh PostgreSQL database, µs each."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.postgres import PostgresServer

    with PostgresServer(durable=True) as server:  # the server's default durability
        return postgres_checks(server.url(server.new_database()), checks)


def postgres_checks(url: str, checks: int, gap: float = 0.0) -> tuple[list[float], list[float]]:
    """``checks`` admits and settles through the gateway's pool in the PostgreSQL database
    ``url`` (empty: migrated here), µs each; after 200 unmeasured ones. ``gap`` seconds
    pass between one check's settle and the next admit (0: back to back)."""
    from llmring._receipts._postgres import close_pools, migrate
    from llmring._receipts._postgres_admission import PostgresAdmission
    from llmring._receipts._settings import parse_store_url

    admitted, settled = [], []
    store = parse_store_url(url, Path.cwd(), "bench")
    assert store is not None
    migrate(store)
    admission = PostgresAdmission(store)
    try:
        for n in range(checks + 200):  # the first 200 warm the pool and the plan cache
            started = time.perf_counter_ns()
            grant = admission.admit(Ask("key_pg", LIMITS, tokens=500, cost_usd=0.001))
            took = (time.perf_counter_ns() - started) / 1000
            assert isinstance(grant, Grant)
            started = time.perf_counter_ns()
            admission.settle(grant, 300, 0.0005)
            if n >= 200:
                admitted.append(took)
                settled.append((time.perf_counter_ns() - started) / 1000)
            time.sleep(gap)
    finally:
        close_pools()
    return admitted, settled


def _checkpointer(path: Path, stop: threading.Event) -> None:
    """The receipt writer's part: it commits (a batch every 0.1 s) and so checkpoints the WAL,
    which the admission's own connection never does."""
    store = SQLiteStore(path)
    try:
        while not stop.wait(0.1):
            store._open().execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        store.close()


def _worker(args: tuple[str, int, str, int]) -> list[float]:
    path, checks, key, window = args
    # each process's clock steps apart: together they run at the same rate as one
    return _run(Path(path), checks, key, False, window // 2)[0]


def sqlite_checks(
    checks: int, processes: int, window: int
) -> tuple[list[float], list[float], list[float]]:
    """The SQLite figures, µs each: admits and settles in one process, then admits in
    ``processes`` processes at once on one key (``checks`` in all)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "receipts.db"
        _run(path, 200, "key_warmup", True, window)  # the file made and migrated, pages warm
        stop = threading.Event()
        checkpointer = threading.Thread(target=_checkpointer, args=(path, stop))
        checkpointer.start()
        try:
            admitted, settled = _run(path, checks, "key_alone", True, window)
            jobs = [(str(path), checks // processes, "key_shared", window)] * processes
            with multiprocessing.get_context("spawn").Pool(processes) as pool:
                shared = [s for samples in pool.map(_worker, jobs) for s in samples]
        finally:
            stop.set()
            checkpointer.join()
    return admitted, settled, shared


def sqlite_spaced_checks(checks: int, gap: float, window: int) -> list[float]:
    """Admits in a SQLite file, ``gap`` seconds apart (a key's requests at a gateway's pace
    rather than back to back), µs each."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "receipts.db"
        _run(path, 200, "key_warmup", True, window)
        return _run(path, checks, "key_spaced", True, window, gap)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--window", type=int, default=WINDOW, help="requests in the window")
    parser.add_argument("--postgresql", action="store_true", help="PostgreSQL too")
    options = parser.parse_args()
    admitted, settled, shared = sqlite_checks(options.checks, options.processes, options.window)
    print(
        f"Admission checks ({machine()}); {options.checks} checks each, "
        f"{options.window} requests in the window\n"
    )
    print("| measure | p50 (µs) | p99 (µs) | mean (µs) |")
    print("|---|---|---|---|")
    rows = [
        ("admit, 1 process", admitted),
        ("settle, 1 process", settled),
        (f"admit, {options.processes} processes on one key", shared),
    ]
    if options.postgresql:
        pg_admitted, pg_settled = _postgres(options.checks)
        rows += [("admit, PostgreSQL", pg_admitted), ("settle, PostgreSQL", pg_settled)]
    for name, samples in rows:
        p50, p99, mean = percentiles(samples)
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {mean:.1f} |")


if __name__ == "__main__":
    main()
