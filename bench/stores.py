"""The receipt stores side by side: SQLite beside a shared PostgreSQL, in one run.

    .venv/bin/python bench/stores.py            # about 7 minutes on 2 cores
    .venv/bin/python bench/stores.py --quick    # about 1.5 minutes: 2 rounds, shorter cells

One throwaway PostgreSQL 15 (Debian's, started on loopback by tests/postgres.py's
``PostgresServer`` with the server's default durability: a commit waits for its WAL flush)
serves every part, each in a database of its own:

1. **The gateway on each store.** Two real ``llmring serve`` processes (bench/serve.py's
   ``llmring_gateway``) with receipts and auth on, one on a SQLite file and one on a PostgreSQL
   database migrated by ``llmring store migrate``, in front of bench/serve.py's synthetic
   upstream. Each store holds two keys made by ``llmring keys create``: ``plain``, without
   limits (admission never touches the store), and ``limited``, with an rpm, a tpm and a
   budget (``--allow-unpriced``) so high that nothing is refused, so every request makes the
   admission's round trip and the stream's end its settlement. The contenders (``direct``,
   the load generator posting straight to the upstream, then each store with each key) take
   turns in every cell (the 20-chunk stream at concurrency 1, 10 and 50; ``--long`` adds the
   200-chunk one), the order rotating from cell to cell, over several rounds; bench/serve.py's
   load generator and cells, so the figures compare with docs/benchmarks-serve.md's. Every
   contender must deliver exactly the stream's text; after the gateways have stopped (each
   stores its queued receipts first), each store must hold one receipt per request the load
   generator sent it with each key, warm-up ones included. Either failing marks the run failed
   (exit status 1).
2. **Receipt writes per second** on both stores (bench/store_writes.py's ``measure``).
3. **The admission check's cost** on both stores (bench/admission.py's ``sqlite_checks`` and
   ``postgres_checks``): admit and settle, in-process, µs each.

Writes ``docs/benchmarks-stores.md`` and prints its tables.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import admission
import store_writes
from report import machine
from serve import (
    CONCURRENCY,
    PYTHON,
    ROOT,
    SIZES,
    Contender,
    Gateway,
    Results,
    Upstream,
    latency_table,
    llmring_gateway,
    log,
    run_cell,
    running,
    table,
)

from llmring._receipts._settings import StoreURL, open_receipt_store, parse_store_url
from llmring._receipts._store import ReceiptFilter, ReceiptStore
from tests.postgres import PostgresServer, missing_reason

OUT = ROOT / "docs" / "benchmarks-stores.md"
STORES = ("sqlite", "postgresql")
#: so high that nothing is refused: every request is admitted, and settled, by the store
LIMITED = ["--rpm", str(10**9), "--tpm", str(10**12), "--budget", "1000000000/day"]
LIMITED += ["--allow-unpriced"]
KEYS: dict[str, list[str]] = {"plain": [], "limited": LIMITED}
#: seconds between the spaced admission checks
SPACED = 0.002


@dataclass
class Parity:
    """Requests the load generator sent with one key of one store, and the store's receipts."""

    store: str
    key: str
    sent: int = 0
    receipts: int = 0
    not_ok: int = 0

    @property
    def ok(self) -> bool:
        return self.sent > 0 and self.sent == self.receipts


@dataclass
class Run:
    gateway: Results
    parity: list[Parity] = field(default_factory=list)
    writes: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    checks: dict[str, list[float]] = field(default_factory=dict)
    versions: str = ""
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        found = [
            f"{name}, {size} chunks, c={c}: {(cell.errors or ['no stream finished'])[0][:120]}"
            for (size, c, name), cell in self.gateway.cells.items()
            if not cell.ok or not cell.total
        ]
        found += [
            f"{p.store} `{p.key}`: {p.sent} requests sent, {p.receipts} receipts"
            for p in self.parity
            if not p.ok
        ]
        return found


def contender_name(store: str, key: str) -> str:
    return store if key == "plain" else f"{store} limited"


def cli(*arguments: str, cwd: Path) -> str:
    """``llmring ARGUMENTS``' stdout; its stderr in the error if it fails."""
    done = subprocess.run(
        [str(PYTHON.parent / "llmring"), *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"llmring {arguments[0]} {arguments[1]} failed: {done.stderr[-800:]}")
    return done.stdout.strip()


def prepare(
    store: str, url: str, upstream: Upstream, workdir: Path
) -> tuple[Gateway, dict[str, str]]:
    """The gateway on ``url``, migrated, with a key of each kind (the keys, by kind)."""
    gateway = llmring_gateway(store, upstream, workdir, 1, receipts=url, auth=True)
    cli("store", "migrate", "--receipts", url, cwd=workdir)
    keys = {
        kind: cli("keys", "create", kind, *limits, "--receipts", url, cwd=workdir)
        for kind, limits in KEYS.items()
    }
    return gateway, keys


def receipts_by_key(url: str) -> dict[str, tuple[int, int]]:
    """``{key name: (receipts, receipts not ok)}`` in the store ``url``, through the store
    interface ``llmring usage --by key`` uses."""
    parsed = parse_store_url(url, Path.cwd(), "bench")
    assert parsed is not None
    opened = open_receipt_store(parsed, create=False)
    try:
        names = {key["id"]: key["name"] for key in opened.list_keys(include_revoked=True)}
        return {
            names.get(row["key"], str(row["key"])): (
                int(row["calls"]),
                int(row["failed_calls"] or 0),
            )
            for row in opened.totals("key", ReceiptFilter())
        }
    finally:
        opened.close()


def gateways(
    run: Run,
    server: PostgresServer,
    workdir: Path,
    *,
    rounds: int,
    seconds: float,
    sizes: list[str],
) -> None:
    upstream = Upstream()
    try:
        urls = {
            "sqlite": f"sqlite:///{workdir / 'receipts.db'}",
            "postgresql": server.url(server.new_database()),
        }
        started = [prepare(store, urls[store], upstream, workdir) for store in STORES]
        contenders = [Contender("direct", f"{upstream.base_url}/chat/completions")]
        for (gateway, keys), store in zip(started, STORES, strict=True):
            contenders += [
                Contender(contender_name(store, kind), gateway.url, gateway, key)
                for kind, key in keys.items()
            ]
        cells = [(size, c) for size in sizes for c in CONCURRENCY]
        with running([gateway for gateway, _ in started], workdir):
            for number in range(rounds):
                for turn, (size, c) in enumerate(cells, number * len(cells) + 1):
                    figures = run_cell(contenders, run.gateway, size, c, seconds, turn)
                    log(f"round {number + 1}/{rounds}: {size} chunks, c={c}: {figures}")
        # stopped: each gateway stored its queued receipts before it exited
        for store in STORES:
            counted = receipts_by_key(urls[store])
            for kind in KEYS:
                name = contender_name(store, kind)
                sent = sum(cell.sent for (_, _, n), cell in run.gateway.cells.items() if n == name)
                receipts, not_ok = counted.pop(kind, (0, 0))
                run.parity.append(Parity(store, kind, sent, receipts, not_ok))
            for other, (receipts, not_ok) in counted.items():  # receipts no request explains
                run.parity.append(Parity(store, other, 0, receipts, not_ok))
    finally:
        upstream.close()


def writes(run: Run, server: PostgresServer, workdir: Path, *, rounds: int, rows: int) -> None:
    """bench/store_writes.py's rounds, in a database of their own."""
    from llmring._receipts._postgres import PostgresStore, close_pools, migrate
    from llmring._receipts._sqlite import SQLiteStore

    url = parse_store_url(server.url(server.new_database()), workdir, "bench")
    assert url is not None
    migrate(url)
    database: StoreURL = url
    stores: dict[str, Callable[[], ReceiptStore]] = {
        "SQLite": lambda: SQLiteStore(workdir / "writes.db"),
        "PostgreSQL": lambda: PostgresStore(database),
    }
    try:
        run.writes = store_writes.measure(rounds, rows, stores)
    finally:
        close_pools()


def checks(run: Run, server: PostgresServer, *, count: int) -> None:
    """bench/admission.py's checks on both stores (PostgreSQL: a database of their own)."""
    admitted, settled, shared = admission.sqlite_checks(
        count, admission.PROCESSES, admission.WINDOW
    )
    run.checks = {"SQLite admit": admitted, "SQLite settle": settled, "SQLite shared": shared}
    admitted, settled = admission.postgres_checks(server.url(server.new_database()), count)
    run.checks |= {"PostgreSQL admit": admitted, "PostgreSQL settle": settled}
    spaced = count // 5  # the same checks SPACED seconds apart: a c=1 stream's pace
    run.checks["SQLite spaced"] = admission.sqlite_spaced_checks(spaced, SPACED, admission.WINDOW)
    run.checks["PostgreSQL spaced"] = admission.postgres_checks(
        server.url(server.new_database()), spaced, SPACED
    )[0]


def versions(server: PostgresServer) -> str:
    from importlib.metadata import version

    import psycopg

    with psycopg.connect(server.url()) as db:
        row = db.execute("SHOW server_version").fetchone()
    postgres = str(row[0]).split()[0] if row else "?"
    stack = ", ".join(f"{p} {version(p)}" for p in ("uvicorn", "psycopg", "psycopg-pool"))
    return (
        f"llmring {version('llmring')} ({stack}); PostgreSQL {postgres}; "
        f"SQLite {sqlite3.sqlite_version}"
    )


# -- report ---------------------------------------------------------------------------------


def rate_table(results: Results) -> str:
    rows = []
    for size in SIZES:
        for c in CONCURRENCY:
            cells = [results.cells.get((size, c, name)) for name in results.contenders]
            if not any(cells):
                continue
            row = [size, str(c)] + [cell.rate_text() if cell else "-" for cell in cells]
            for kind in KEYS:
                sqlite = results.cells.get((size, c, contender_name("sqlite", kind)))
                postgres = results.cells.get((size, c, contender_name("postgresql", kind)))
                if sqlite and postgres and sqlite.ok and postgres.ok and sqlite.rate():
                    row.append(f"{postgres.rate() / sqlite.rate():.2f}")
                else:
                    row.append("-")
            rows.append(row)
    header = ["chunks", "c", *results.contenders]
    header += [f"{contender_name('postgresql', k)} ÷ {contender_name('sqlite', k)}" for k in KEYS]
    return table(header, rows)


def parity_table(run: Run) -> str:
    rows = [
        [
            p.store,
            f"`{p.key}`",
            f"{p.sent:,}",
            f"{p.receipts:,}",
            f"{p.not_ok:,}",
            "yes" if p.ok else "**NO**",
        ]
        for p in run.parity
    ]
    header = ["store", "key", "requests sent", "receipts", "of them not ok", "one each"]
    return table(header, rows)


def writes_table(run: Run) -> str:
    rows = []
    for way, label in (
        ("batched", f"{store_writes.BATCH} rows per transaction"),
        ("one row", "1 row per transaction"),
    ):
        figures = [run.writes.get((way, name)) for name in ("SQLite", "PostgreSQL")]
        rows.append([label] + [store_writes.spread(f) if f else "-" for f in figures])
    return table(["write", "SQLite rows/s", "PostgreSQL rows/s"], rows)


def checks_table(run: Run) -> str:
    def figures(name: str) -> list[str]:
        samples = run.checks.get(name)
        if not samples:
            return ["-", "-", "-"]
        p50, p99, mean = admission.percentiles(samples)
        return [f"{p50:.1f}", f"{p99:.1f}", f"{mean:.1f}"]

    rows = [
        ["admit (on the request path)", *figures("SQLite admit"), *figures("PostgreSQL admit")],
        ["settle (the stream's end)", *figures("SQLite settle"), *figures("PostgreSQL settle")],
        [
            f"admit, one check every {SPACED * 1000:g} ms",
            *figures("SQLite spaced"),
            *figures("PostgreSQL spaced"),
        ],
        [
            f"admit, {admission.PROCESSES} processes on one key",
            *figures("SQLite shared"),
            "-",
            "-",
            "-",
        ],
    ]
    header = ["check", "SQLite p50 µs", "p99", "mean", "PostgreSQL p50 µs", "p99", "mean"]
    return table(header, rows)


def tables(run: Run) -> str:
    return "\n\n".join(
        [
            "### The gateway: requests per second\n\n" + rate_table(run.gateway),
            "### The gateway: latency (every timed stream; added = contender − direct, same"
            " percentile)\n\n" + latency_table(run.gateway),
            "### Receipts: one per request\n\n" + parity_table(run),
            "### Receipt writes per second (medians (min-max) over the rounds)\n\n"
            + writes_table(run),
            "### The admission check (a key with an rpm, a tpm and a budget)\n\n"
            + checks_table(run),
        ]
    )


def write(run: Run, args: argparse.Namespace, command: str) -> None:
    failures = run.failures
    verdict = (
        "**This run FAILED:** " + "; ".join(failures) + "\n\n"
        if failures
        else "Every contender delivered exactly the stream's text, and each store held one"
        " receipt per request sent to it.\n\n"
    )
    quick = (
        "**A quick run (`--quick`): two rounds of short cells, fewer rows and checks. The"
        " figures are indicative only; a full run replaces them.**\n\n"
        if args.quick
        else ""
    )
    text = (
        "# Benchmark: the receipt stores, SQLite beside PostgreSQL\n\n"
        f"{quick}Measured {datetime.date.today().isoformat()} on {machine()} with"
        f" `{command}` ({run.seconds / 60:.1f} minutes). {run.versions}.\n\n"
        "One PostgreSQL on loopback, with its default durability (every commit waits for its"
        " WAL flush), started in a temporary directory as the test suite starts it"
        " (`tests/postgres.py`), serves every part below, each in a database of its own. The"
        " SQLite stores are files in a temporary directory, opened as `llmring serve` opens"
        " them (WAL, `synchronous=NORMAL`).\n\n"
        f"{verdict}"
        "## The gateway on each store\n\n"
        "Two `llmring serve` processes with receipts and auth on, one on each store (the"
        " PostgreSQL database migrated by `llmring store migrate`), in front of the synthetic"
        " upstream of [benchmarks-serve.md](benchmarks-serve.md) (`bench/server.py`), measured"
        " through the same load generator (`bench/loadgen.py`). **direct** is the load"
        " generator posting straight to the upstream. Each store has two keys: **plain** (no"
        " limits: the request never waits on the store, its receipt is written in the"
        " background) and **limited** (`"
        + " ".join(LIMITED)
        + "`: nothing is refused, so every request waits for the admission check before the"
        " upstream call, and its stream's end settles the grant). "
        f"{args.rounds} round(s); in each, every contender streams for {args.seconds:g} s per"
        " cell after a warm-up stream or two, the order rotating from cell to cell. Times run"
        " from just before the request is written to the first content chunk and to the end"
        " of the body. The 1-minute load average was"
        f" {run.gateway.load[0]:.1f} at the start and {run.gateway.load[-1]:.1f} at the"
        " end.\n\n"
        f"{tables(run)}\n\n"
        "## How to read this\n\n"
        "- **req/s** is the streams finished over the seconds spent, summed over the rounds;"
        " **÷** is PostgreSQL's over SQLite's for the same key kind. The percentiles are over"
        " every timed stream of every round.\n"
        "- **added** is the gateway's cost over going direct: a contender's percentile minus"
        " direct's. For a **plain** key it is the same for both stores but for the receipt"
        " writer's background work; for a **limited** key the first chunk also waits for"
        " the admission check (one round trip to PostgreSQL, one `BEGIN IMMEDIATE`"
        " transaction in SQLite); the settlement runs in a worker thread once the stream has"
        " ended, not waited for, but it takes CPU and a store connection from the requests"
        " that follow.\n"
        "- Everything shares the machine's cores: the upstream, the load generator, both"
        " gateways and the PostgreSQL server. A PostgreSQL on another host adds the network's"
        " round trip to each limited request's admission and takes its CPU off the"
        " gateway's host.\n"
        "- **Receipts: one per request** counts, after the gateways have stopped (each stores"
        " its queued receipts first), each key's receipts in each store (`totals` by key, as"
        " `llmring usage --by key` does) against the requests the load generator sent with it,"
        " warm-up ones included. **not ok** counts receipts whose status is not `ok`"
        " (a stream abandoned at a cell's hard limit is `cancelled`).\n"
        "- **Receipt writes** are `bench/store_writes.py`'s: the store's `write` of"
        f" {args.rows:,} rows {store_writes.BATCH} at a time (the writer thread's way), and"
        f" of {args.rows // 10:,} one at a time; {args.write_rounds} round(s), alternating"
        " the stores.\n"
        "- **The admission check** is `bench/admission.py`'s: in-process, around each call,"
        f" {args.checks:,} checks per line (after 200 unmeasured ones on PostgreSQL); SQLite's"
        f" window holds {admission.WINDOW} requests, PostgreSQL's every check of the last"
        " minute (the database's clock); a thread checkpoints SQLite's WAL as the receipt"
        " writer does. The gateway adds a hop to a worker thread around it. The checks run"
        " back to back, except **one check every"
        f" {SPACED * 1000:g} ms**: a fifth as many, each after a pause (outside the timing), as"
        " a key's requests come at a c=1 stream's pace; PostgreSQL's server process then"
        " has gone idle and must be woken.\n\n"
        "## Reproduce\n\n"
        "```sh\n.venv/bin/python bench/stores.py            # about 7 minutes on 2 cores\n"
        ".venv/bin/python bench/stores.py --quick    # about 1.5 minutes\n```\n\n"
        "`--long` adds the 200-chunk stream's cells (about 3 minutes more).\n\n"
        "It needs Debian's `postgresql` package and psycopg (`pip install -e '.[postgres]'`).\n"
    )
    OUT.write_text(text)


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, shorter cells")
    parser.add_argument("--rounds", type=int, help="gateway rounds (default 5, quick 2)")
    parser.add_argument("--seconds", type=float, help="seconds per cell (default 4, quick 1.5)")
    parser.add_argument("--long", action="store_true", help="the 200-chunk stream too")
    parser.add_argument("--rows", type=int, help="rows per batched write round (20,000; 5,000)")
    parser.add_argument("--write-rounds", type=int, help="write rounds (default 5, quick 2)")
    parser.add_argument("--checks", type=int, help="admission checks (default 5,000; 1,000)")
    args = parser.parse_args()
    reason = missing_reason()
    if reason is not None:
        sys.exit(f"bench/stores.py needs a PostgreSQL to start: {reason}")
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.seconds = args.seconds or (1.5 if args.quick else 4.0)
    args.rows = args.rows or (5_000 if args.quick else 20_000)
    args.write_rounds = args.write_rounds or (2 if args.quick else 5)
    args.checks = args.checks or (1_000 if args.quick else 5_000)
    command = "python bench/stores.py" + "".join(f" {a}" for a in sys.argv[1:])
    sizes = ["20", "200"] if args.long else ["20"]
    contenders = ["direct"] + [contender_name(s, k) for s in STORES for k in KEYS]
    run = Run(Results(contenders))
    with (
        tempfile.TemporaryDirectory(prefix="bench-stores-") as temp,
        PostgresServer(durable=True) as server,
    ):
        workdir = Path(temp)
        run.versions = versions(server)
        log("the gateway on each store")
        gateways(run, server, workdir, rounds=args.rounds, seconds=args.seconds, sizes=sizes)
        run.gateway.load.append(os.getloadavg()[0])
        log("receipt writes")
        writes(run, server, workdir, rounds=args.write_rounds, rows=args.rows)
        log("admission checks")
        checks(run, server, count=args.checks)
    run.seconds = time.monotonic() - run.gateway.started
    print(tables(run))
    write(run, args, command)
    log(f"wrote {OUT.relative_to(ROOT)} in {run.seconds / 60:.1f} min")
    for failure in run.failures:
        log(f"FAILED: {failure}")
    if run.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
