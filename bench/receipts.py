"""What receipts cost a stream, and how fast the writer stores them (in-process, offline).

    .venv/bin/python bench/receipts.py [--rounds N] [--quick]

Streams of the ``mock`` provider run with receipts off and on (a SQLite file in a temporary
directory), alternating rounds (off, on, off, on, ...) so that drift in the machine's speed
hits both alike; figures are medians (min-max) over rounds:

- **per chunk**: one 20,000-chunk stream per round (``chunk_size=4``), µs per chunk;
- **per stream**: 2,000 one-chunk streams one after another per round, µs per stream, with
  the writer thread storing them meanwhile (what a caller sees, the writer's share of the GIL
  during the loop included); **until stored**: the same loop and then ``flush()`` (every
  receipt in the store), the whole cost of receipts;
- **record()**: the stream's own part alone, the receipt made and queued at a stream's end
  (``Recorder.record`` on a finished run, the writer asleep meanwhile), µs per call;
- **writer**: 50,000 receipts queued, then ``flush()``: rows/s through the background writer
  (batches of 500, one transaction each), and the SQLite store written directly in batches
  of 500 and one row per transaction.

Prints a Markdown table; docs/receipts.md quotes it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from report import machine  # bench/ is on sys.path when run as a script

from llmring import LLMRequest, LLMRing, Message
from llmring._receipts import Receipt, Recorder
from llmring._receipts._sqlite import SQLiteStore
from llmring._receipts._writer import ReceiptWriter

LONG = "abcd" * 20_000  # 20,000 chunks of 4 characters
SHORT_STREAMS = 2_000
WRITER_ROWS = 50_000


def request(text: str) -> LLMRequest:
    return LLMRequest(
        model="mock:bench?chunk_size=4",
        messages=[Message(role="user", content="bench")],
        extra_params={"mock_response": text},
    )


async def consume(ring: LLMRing, streams: int, text: str) -> float:
    ask = request(text)
    started = time.perf_counter()
    for _ in range(streams):
        async for _chunk in ring.chat_stream(ask):
            pass
    return time.perf_counter() - started


def alternate(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            times[name].append(run())
    return times


def stream_costs(rounds: int, folder: Path) -> dict[str, dict[str, list[float]]]:
    off = LLMRing(receipts="off")
    on = LLMRing(receipts=f"sqlite:///{folder / 'bench.db'}")
    results = {}
    for label, streams, text in (
        ("per chunk (µs)", 1, LONG),
        ("per stream (µs)", SHORT_STREAMS, "ok"),
    ):
        units = 20_000 if streams == 1 else streams
        stored: dict[str, list[float]] = {"off": [], "on": []}

        def timed(
            ring: LLMRing,
            name: str,
            streams: int = streams,
            text: str = text,
            stored: dict[str, list[float]] = stored,
        ) -> float:
            asyncio.run(consume(ring, 20, text))  # warm-up
            started = time.perf_counter()
            elapsed = asyncio.run(consume(ring, streams, text))
            if ring.receipts is not None:
                ring.receipts.flush(60)
            stored[name].append(time.perf_counter() - started)  # the writer's work included
            return elapsed

        times = alternate(rounds, {"off": lambda: timed(off, "off"), "on": lambda: timed(on, "on")})
        results[label] = {k: [t / units * 1e6 for t in v] for k, v in times.items()}
        if streams > 1:
            results["per stream, until stored (µs)"] = {
                k: [t / units * 1e6 for t in v] for k, v in stored.items()
            }
    return results


def record_cost(folder: Path, calls: int = 20_000) -> list[float]:
    """µs per ``Recorder.record`` call on a finished run (the stream's whole part)."""
    # the writer stores nothing while ``record`` is timed (only flush() wakes it), so its
    # work is not counted here; the per-stream row above counts it
    writer = ReceiptWriter(
        lambda: SQLiteStore(folder / "record.db"),
        folder / "record.spill",
        max_queue=10**9,
        batch=10**9,
        interval=3600,
    )
    recorder = Recorder(writer, content=False, digest="sha256:0")
    ring = LLMRing(receipts="off")
    stream = ring.chat_stream(request("ok"))

    async def finish() -> None:
        async for _ in stream:
            pass

    asyncio.run(finish())
    run = stream._run
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            recorder.record(run, None)
        samples.append((time.perf_counter() - started) / calls * 1e6)
        writer.flush(120)
    return samples


def writer_rows_per_second(folder: Path) -> dict[str, float]:
    writer = ReceiptWriter(lambda: SQLiteStore(folder / "writer.db"), folder / "w.spill")
    ring = LLMRing(receipts="off")
    stream = ring.chat_stream(request("ok"))

    async def finish() -> None:
        async for _ in stream:
            pass

    asyncio.run(finish())
    receipts = [Receipt(stream._run, "ok", None, 0.001, "sha256:0") for _ in range(WRITER_ROWS)]
    started = time.perf_counter()
    for receipt in receipts:
        writer.put(receipt)
    writer.flush(300)
    through_writer = WRITER_ROWS / (time.perf_counter() - started)

    rows = [r.row() for r in receipts[:10_000]]
    for r in rows:
        r["id"] += "x"  # new ids: the writer stored the originals
    store = SQLiteStore(folder / "direct.db")
    started = time.perf_counter()
    for start in range(0, len(rows), 500):
        store.write(rows[start : start + 500])
    batched = len(rows) / (time.perf_counter() - started)
    singles = rows[:2_000]
    for r in singles:
        r["id"] += "y"
    started = time.perf_counter()
    for row in singles:
        store.write([row])
    one_by_one = len(singles) / (time.perf_counter() - started)
    store.close()
    return {
        "background writer (put + flush)": through_writer,
        "store.write, 500 rows per transaction": batched,
        "store.write, 1 row per transaction": one_by_one,
    }


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        costs = stream_costs(rounds, folder)
        record = record_cost(folder)
        rates = writer_rows_per_second(folder)
    print(f"Receipts, {rounds} alternating rounds; {machine()}\n")
    print("| measure | receipts off | receipts on | on / off | added |")
    print("|---|---|---|---|---|")
    for label, times in costs.items():
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        print(
            f"| {label} | {spread(times['off'])} | {spread(times['on'])} | "
            f"{on / off:.3f} | {on - off:+.2f} |"
        )
    print(f"\n`Recorder.record` (make and queue one receipt): {spread(record)} µs per stream\n")
    print("| writer | rows/s |")
    print("|---|---|")
    for label, rate in rates.items():
        print(f"| {label} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
