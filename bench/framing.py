"""The framers' cost on one long line: linear in the bytes, and how long one read blocks.

    .venv/bin/python bench/framing.py [--size BYTES] [--read BYTES] [--rounds N]

A provider may send one very long line (a tool call's arguments, a base64 image, a server
that never ends its line). Both framers of ``llmring.providers._framing`` are fed such a line
in reads of ``--read`` bytes (16 KiB, as an HTTP client hands a body over), in-process:

* a line just under the 16 MiB cap: total seconds and the longest single ``feed`` (the time
  one read blocks the event loop, and with it every other stream);
* a 20 MB line, refused at the cap: the seconds until ``FrameError``.

Figures are medians over ``--rounds`` runs. Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from llmring.providers._framing import MAX_LINE, FrameError, NDJSONLines, SSEDecoder

Feed = Callable[[bytes], object]


def reads(prefix: bytes, size: int, read: int) -> list[bytes]:
    body = prefix + b"x" * (size - len(prefix)) + b"\n\n"
    return [body[i : i + read] for i in range(0, len(body), read)]


def run(feed: Feed, chunks: list[bytes]) -> tuple[float, float, bool]:
    """Total seconds, the longest single feed in seconds, and whether the cap was hit."""
    longest = 0.0
    started = time.perf_counter()
    try:
        for chunk in chunks:
            before = time.perf_counter()
            feed(chunk)
            longest = max(longest, time.perf_counter() - before)
    except FrameError:
        return time.perf_counter() - started, longest, True
    return time.perf_counter() - started, longest, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=MAX_LINE - 1024, help="the long line")
    parser.add_argument("--read", type=int, default=16 * 1024, help="bytes per read")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    framers: dict[str, tuple[Callable[[], Feed], bytes]] = {
        "SSE": (lambda: SSEDecoder().feed, b"data: "),
        "NDJSON": (lambda: NDJSONLines().feed, b'{"t": "'),
    }
    print(f"| framer | line | reads of {args.read} B | total s | longest read ms | cap hit |")
    print("|---|---|---|---|---|---|")
    for name, (make, prefix) in framers.items():
        for size in (args.size, 20_000_000):
            chunks = reads(prefix, size, args.read)
            runs = [run(make(), chunks) for _ in range(args.rounds)]
            total = statistics.median(r[0] for r in runs)
            longest = statistics.median(r[1] for r in runs)
            hit = "yes" if runs[0][2] else "no"
            print(
                f"| {name} | {size:,} B | {len(chunks)} | {total:.3f} | "
                f"{longest * 1000:.2f} | {hit} |"
            )


if __name__ == "__main__":
    main()
