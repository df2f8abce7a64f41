"""Running contenders and summarising what they measured.

Each measurement is one run of a runner script (see ``runners/_common.py``) in the
contender's interpreter. Rounds alternate the contenders (A B C A B C ...) so that drift in
the machine's speed hits all of them alike; figures are medians with min and max.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


@dataclass(frozen=True)
class Contender:
    name: str
    python: Path
    runner: Path
    providers: tuple[str, ...]
    label: str = ""


@dataclass
class Sample:
    """Every stream a contender timed for one workload, across rounds."""

    totals: list[float] = field(default_factory=list)
    ttfcs: list[float] = field(default_factory=list)
    chunks: set[int] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    rss_kb: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.totals) and not self.errors

    def median(self) -> float:
        return statistics.median(self.totals)

    def ttfc(self) -> float | None:
        values = [t for t in self.ttfcs if t is not None]
        return statistics.median(values) if values else None


def run_runner(
    contender: Contender,
    provider: str,
    root: str,
    *,
    streams: int,
    warmup: int = 1,
    concurrency: int = 1,
    timeout: float = 900,
) -> dict[str, Any]:
    command = [
        str(contender.python),
        str(contender.runner),
        "--contender",
        contender.name,
        "--provider",
        provider,
        "--root",
        root,
        "--streams",
        str(streams),
        "--warmup",
        str(warmup),
        "--concurrency",
        str(concurrency),
    ]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"streams": [], "errors": [f"timed out after {timeout}s"], "peak_rss_kb": 0}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {
            "streams": [],
            "peak_rss_kb": 0,
            "errors": [f"exit {done.returncode}: {done.stderr.strip()[-800:]}"],
        }
    return dict(json.loads(lines[-1]))


def sample_rounds(
    contenders: list[Contender], provider: str, root: str, *, rounds: int, streams: int
) -> dict[str, Sample]:
    """Alternate the contenders for ``rounds`` rounds; collect every timed stream."""
    samples = {c.name: Sample() for c in contenders}
    for number in range(rounds):
        order = contenders[number % len(contenders) :] + contenders[: number % len(contenders)]
        for contender in order:
            result = run_runner(contender, provider, root, streams=streams)
            sample = samples[contender.name]
            sample.errors += result.get("errors", [])
            sample.rss_kb.append(int(result.get("peak_rss_kb", 0)))
            for stream in result.get("streams", []):
                sample.totals.append(stream["total"])
                sample.ttfcs.append(stream["ttfc"])
                sample.chunks.add(stream["chunks"])
                sample.texts.add(stream["text"])
    return samples


def wall_times(command: list[str], repeats: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall seconds of ``command`` run ``repeats`` times (after one unmeasured run)."""
    times = []
    for index in range(repeats + 1):
        started = time.perf_counter()
        subprocess.run(
            command, capture_output=True, check=False, cwd=ROOT, env={**os.environ, **(env or {})}
        )
        if index:
            times.append(time.perf_counter() - started)
    return times


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
