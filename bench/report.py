"""Tables, the targets check, ``docs/benchmarks.md`` and its plot."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from pathlib import Path
from typing import Any

from measure import BENCH, Sample
from streams import PROVIDERS

MAIN = "2000"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _cell(sample: Sample | None) -> str:
    if sample is None:
        return "n/a"
    if not sample.ok:
        return "failed"
    return f"{_ms(sample.median())} ({_ms(min(sample.totals))}-{_ms(max(sample.totals))})"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def workload_table(results: Any, label: str) -> str:
    rows = []
    for provider in PROVIDERS:
        samples = results.workloads.get((provider, label))
        if not samples:
            continue
        raw, floor = samples.get("raw"), samples.get("floor")
        chunks = int(label.split()[0])
        for name, sample in samples.items():
            ok = sample.ok
            ratio_raw = f"{sample.median() / raw.median():.2f}" if ok and raw and raw.ok else "-"
            ratio_floor = (
                f"{sample.median() / floor.median():.2f}" if ok and floor and floor.ok else "-"
            )
            per_chunk = f"{sample.median() / chunks * 1e6:.1f}" if ok else "-"
            added = "-"
            if ok and raw and raw.ok and sample.ttfc() is not None and raw.ttfc() is not None:
                added = f"{(sample.ttfc() - raw.ttfc()) * 1000:+.2f}"
            rss = f"{statistics.median(sample.rss_kb) / 1024:.0f}" if sample.rss_kb else "-"
            rows.append(
                [
                    provider,
                    name,
                    _cell(sample),
                    ratio_raw,
                    ratio_floor,
                    per_chunk,
                    _ms(sample.ttfc()),
                    added,
                    rss,
                ]
            )
    header = [
        "provider",
        "contender",
        "total ms median (min-max)",
        "÷ raw SDK",
        "÷ floor",
        "µs per chunk",
        "TTFC ms",
        "TTFC vs raw ms",
        "peak RSS MB",
    ]
    return f"### {label}-chunk stream\n\n" + _table(header, rows)


def recorded_table(results: Any) -> str:
    names = [c.name for c in results.contenders]
    rows = []
    for provider, samples in results.recorded.items():
        rows.append([provider] + [_cell(samples.get(n)) for n in names])
    return _table(["recorded stream"] + names, rows)


def startup_table(results: Any) -> str:
    rows = []
    for name, figures in results.startup.items():
        rows.append(
            [name] + [_ms(_median(figures.get(k, []))) for k in ("import", "first_stream", "help")]
        )
    return _table(
        ["contender", "import ms", "first stream in a fresh process ms", "--help ms"], rows
    )


def scale_table(results: Any) -> str:
    rows = []
    for name, outcome in results.scale.items():
        rounds = outcome.get("streams") or [{}]
        stream = rounds[0]
        wall, chunks = stream.get("wall"), stream.get("chunks", 0)
        rows.append(
            [
                name,
                f"{stream.get('ok', 0)}/{stream.get('ok', 0) + stream.get('failed', 0)}",
                f"{wall:.2f}" if wall else "-",
                f"{chunks / wall:,.0f}" if wall else "-",
                f"{outcome.get('peak_rss_kb', 0) / 1024:.0f}",
                "; ".join(e[:80] for e in outcome.get("errors", [])[:2]) or "none",
            ]
        )
    return _table(["contender", "streams ok", "wall s", "chunks/s", "peak RSS MB", "errors"], rows)


def memory_table(results: Any) -> str:
    rows = []
    for name, by_chunks in results.memory.items():
        small, large = by_chunks.get(1000, 0), by_chunks.get(100000, 0)
        rows.append(
            [name, f"{small / 1024:.1f}", f"{large / 1024:.1f}", f"{(large - small) / 1024:+.1f}"]
        )
    return _table(["contender", "1,000 chunks MB", "100,000 chunks MB", "difference MB"], rows)


def targets(results: Any) -> list[tuple[str, bool | None, str]]:
    checks: list[tuple[str, bool | None, str]] = []
    for provider in PROVIDERS:
        samples = results.workloads.get((provider, MAIN), {})
        ours, raw, floor = samples.get("llmring"), samples.get("raw"), samples.get("floor")
        if ours and raw and ours.ok and raw.ok:
            ratio = ours.median() / raw.median()
            checks.append(
                (
                    f"{provider}: llmring ÷ raw SDK ≤ 1.10 (2,000 chunks)",
                    ratio <= 1.10,
                    f"{ratio:.2f}",
                )
            )
        if (
            ours
            and floor
            and ours.ok
            and floor.ok
            and provider in ("openai", "openai-responses", "anthropic")
        ):
            ratio = ours.median() / floor.median()
            checks.append((f"{provider}: llmring ≤ 3× the floor", ratio <= 3.0, f"{ratio:.2f}×"))
    for provider in PROVIDERS:
        samples = results.workloads.get((provider, "200 paced 2 ms"), {})
        ours, raw = samples.get("llmring"), samples.get("raw")
        if ours and raw and ours.ttfc() is not None and raw.ttfc() is not None:
            added = (ours.ttfc() - raw.ttfc()) * 1000
            checks.append(
                (f"{provider}: added time to first chunk ≤ 1 ms", added <= 1.0, f"{added:+.2f} ms")
            )
    figures = results.startup.get("llmring", {})
    for key, limit, label in (
        ("import", 0.150, "import llmring ≤ 150 ms"),
        ("help", 0.300, "llmring --help ≤ 300 ms"),
    ):
        value = _median(figures.get(key, []))
        if value is not None:
            checks.append((label, value <= limit, f"{value * 1000:.0f} ms"))
    scale = results.scale.get("llmring")
    if scale:
        stream = (scale.get("streams") or [{}])[0]
        rss = scale.get("peak_rss_kb", 0) / 1024
        ok = stream.get("failed", 1) == 0 and not scale.get("errors") and rss <= 300
        checks.append(
            (
                "1,000 concurrent streams: no errors, peak RSS ≤ 300 MB",
                ok,
                f"{stream.get('ok', 0)} ok, {stream.get('failed', '?')} failed, {rss:.0f} MB",
            )
        )
    memory = results.memory.get("llmring")
    if memory and memory.get(1000) and memory.get(100000):
        growth = (memory[100000] - memory[1000]) / 1024
        checks.append(
            (
                "100,000-chunk stream ≤ 1,000-chunk stream + 10 MB peak RSS",
                growth <= 10,
                f"{growth:+.1f} MB",
            )
        )
    return checks


def targets_table(results: Any) -> str:
    rows = [
        [label, {True: "met", False: "NOT met", None: "-"}[ok], value]
        for label, ok, value in targets(results)
    ]
    return _table(["target", "result", "figure"], rows)


def tables(results: Any) -> str:
    parts = [
        workload_table(results, label)
        for label in ("200", "2000", "20000", "200 paced 2 ms")
        if any(k[1] == label for k in results.workloads)
    ]
    parts += [
        "### recorded streams (median ms)\n\n" + recorded_table(results),
        "### start-up (median wall time)\n\n" + startup_table(results),
    ]
    if results.scale:
        parts.append("### 1,000 concurrent openai streams of 200 chunks\n\n" + scale_table(results))
    if results.memory:
        parts.append("### peak RSS on long streams\n\n" + memory_table(results))
    parts.append("### targets\n\n" + targets_table(results))
    return "\n\n".join(parts)


def machine() -> str:
    """The CPU, cores, OS and Python of this run (the toolkit benchmark's page uses it too)."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def write(results: Any, out: Path) -> None:
    plot(results, out.with_suffix(".png"))
    versions = "\n".join(
        f"- {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(found.items()))
        for name, found in results.versions.items()
    )
    notes = BENCH / "NOTES.md"
    text = (
        "# Benchmarks\n\n"
        f"Measured {datetime.date.today().isoformat()} on {machine()} with `python bench/run.py`"
        " (see bench/README.md). Every contender streams the same bytes from the same loopback"
        " server (a separate process); rounds alternate the contenders; figures are medians"
        " (min-max) over every timed stream. The **floor** is a bare httpx loop that splits"
        " the body into events and `json.loads` each, nothing else; **raw SDK** is the loop a"
        " user writes with the official SDK's own typed stream iterator.\n\n"
        "The streaming toolkit's own overhead (`llmring.streaming`) is measured separately:"
        " [benchmarks-toolkit.md](benchmarks-toolkit.md).\n\n"
        f"![{MAIN}-chunk stream, total time per contender](benchmarks.png)\n\n"
        f"## Versions\n\n{versions}\n\n## Results\n\n{tables(results)}\n"
    )
    text += "\n" + peer_notes()
    if notes.exists():
        text += "\n" + notes.read_text()
    out.write_text(text)


def peer_notes() -> str:
    """Where a peer does not work on the benchmark's streams, and why (from bench/peers.py)."""
    from peers import PEERS

    lines = ["## Peers: what does not work\n"]
    for spec in PEERS.values():
        for provider, why in spec.broken.items():
            lines.append(f"- **{spec.name} × {provider}**: {why}")
        if spec.notes:
            lines.append(f"- {spec.name}: {spec.notes}")
    return "\n".join(lines) + "\n"


def plot(results: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.name for c in results.contenders]
    labels = {c.name: c.label or c.name for c in results.contenders}
    figure, axis = plt.subplots(figsize=(10, 5))
    width = 0.8 / max(len(names), 1)
    for offset, name in enumerate(names):
        values = []
        for provider in PROVIDERS:
            sample = results.workloads.get((provider, MAIN), {}).get(name)
            values.append(sample.median() * 1000 if sample and sample.ok else 0)
        positions = [i + offset * width for i in range(len(PROVIDERS))]
        axis.bar(positions, values, width, label=labels[name])
    axis.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(PROVIDERS))], PROVIDERS)
    axis.set_yscale("log")
    axis.set_ylabel("ms per 2,000-chunk stream (median, log scale)")
    axis.set_title(
        "Time to consume one 2,000-chunk stream from a loopback server (lower is better)"
    )
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
