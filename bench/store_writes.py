"""Receipt writes per second: SQLite beside PostgreSQL, through each store's ``write``.

    .venv/bin/python bench/store_writes.py [--rounds N] [--rows N]

A PostgreSQL server (Debian's, started in a temporary directory on loopback by
tests/postgres.py's ``PostgresServer``, with the server's default durability: every commit
waits for its WAL flush) and a SQLite file in a temporary directory (the store's own settings:
WAL, ``synchronous=NORMAL``) take the same receipt rows, in rounds that
alternate the stores (SQLite, PostgreSQL, SQLite, ...) so drift in the machine's speed hits
both alike. Two ways each:

- **batched**: ``write`` of 500 rows at a time, one transaction per batch (the writer
  thread's way; on PostgreSQL ``COPY`` into a staging table, then ``INSERT ... ON CONFLICT
  DO NOTHING``);
- **one row per transaction**: ``write([row])`` per receipt (what a store without batching
  would do).

Figures are medians (min-max) of rows/s over the rounds. Prints a Markdown table;
docs/receipts.md quotes it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from report import machine

from llmring._receipts._postgres import PostgresStore, close_pools, migrate
from llmring._receipts._receipt import COLUMNS, iso, uuid7
from llmring._receipts._settings import StoreURL, parse_store_url
from llmring._receipts._sqlite import SQLiteStore
from llmring._receipts._store import ReceiptStore
from tests.postgres import PostgresServer

BATCH = 500


def rows(count: int) -> list[dict[str, Any]]:
    """``count`` receipts as a finished ``mock`` call makes them, each with a new id."""
    made = []
    for number in range(count):
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(
            id=uuid7(),
            started_at=iso(datetime.now(UTC)),
            profile="default",
            alias="chatbot",
            candidates='["mock:chatbot"]',
            attempts="[]",
            provider="mock",
            model="chatbot",
            status="ok",
            prompt_tokens=number,
            completion_tokens=12,
            total_tokens=number + 12,
            usage='{"prompt_tokens": 1, "completion_tokens": 12}',
            usage_source="reported",
            cost_status="unpriced",
            duration=0.002,
            first_chunk_latency=0.001,
            chunks=3,
            lockfile_digest="sha256:" + "0" * 64,
        )
        made.append(row)
    return made


def rate(store: ReceiptStore, count: int, per_write: int) -> float:
    batch = rows(count)
    started = time.perf_counter()
    for start in range(0, count, per_write):
        store.write(batch[start : start + per_write])
    return count / (time.perf_counter() - started)


def measure(
    rounds: int, count: int, stores: dict[str, Callable[[], ReceiptStore]]
) -> dict[tuple[str, str], list[float]]:
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for way, per_write, n in (("batched", BATCH, count), ("one row", 1, count // 10)):
            for name, open_store in stores.items():  # alternating: drift hits both
                store = open_store()
                try:
                    results.setdefault((way, name), []).append(rate(store, n, per_write))
                finally:
                    store.close()
    return results


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per batched round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, PostgresServer(durable=True) as server:
        server.new_database()
        url = parse_store_url(server.url("t1"), Path.cwd(), "bench")
        assert url is not None
        migrate(url)
        database: StoreURL = url
        stores: dict[str, Callable[[], ReceiptStore]] = {
            "SQLite": lambda: SQLiteStore(Path(tmp) / "bench.db"),
            "PostgreSQL": lambda: PostgresStore(database),
        }
        try:
            results = measure(args.rounds, args.rows, stores)
        finally:
            close_pools()
    print(f"Receipt writes, {args.rounds} alternating rounds; {machine()}\n")
    print("| write | SQLite rows/s | PostgreSQL rows/s |")
    print("|---|---|---|")
    for way, label in (
        ("batched", f"{BATCH} rows per transaction"),
        ("one row", "1 row per transaction"),
    ):
        print(
            f"| {label} | {spread(results[(way, 'SQLite')])} | "
            f"{spread(results[(way, 'PostgreSQL')])} |"
        )


if __name__ == "__main__":
    main()
