"""The gateway benchmark: ``llmring serve`` against going direct and against LiteLLM's proxy.

    .venv/bin/python bench/serve.py            # about 15 minutes on 2 cores
    .venv/bin/python bench/serve.py --quick    # about 4 minutes: one round, shorter cells

Processes, each on its own: the upstream (``bench/server.py``, synthetic OpenAI streams chosen by
the request's ``model``), the gateways (a real ``llmring serve`` with receipts on, the same with
``--workers 2``, and LiteLLM's proxy from its own venv, ``bench/peers.py``), and the load
generator (``bench/loadgen.py``), which every contender is measured through, ``direct`` being
the load generator posting straight to the upstream. Every gateway serves the same aliases
(``openai-20``, ``openai-200``, ...: the stream's name), so every contender sends the same
request.

Cells (20- and 200-chunk streams at concurrency 1, 10 and 50) are run in rounds; in each cell
the contenders take turns, the order rotating from cell to cell, so drift in the machine's
speed hits them alike. Then a stream paced 20 ms apart (are the gaps kept?), the gateways' peak
RSS, and their RSS while 1,000 idle streams are open (the upstream sends one content chunk and
holds the stream). Every contender must deliver exactly the stream's text, or it is marked
failed.

Writes ``docs/benchmarks-serve.md`` and ``docs/benchmarks-serve.png`` and prints the tables.
``--profile`` instead profiles one ``llmring serve`` (cProfile on its event loop's thread, over
c=1 20-chunk streams) and prints the top costs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import machine
from streams import expected_text

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = Path(sys.executable)
OUT = ROOT / "docs" / "benchmarks-serve.md"
LOADGEN = BENCH / "loadgen.py"
LITELLM_PIN = "1.106.2"

#: the upstream's streams (``bench/server.py``'s names), also the gateways' aliases
SIZES = {"20": "openai-20", "200": "openai-200"}
PACED = "openai-20-d20"
HOLD = "openai-20-hold"
CONCURRENCY = (1, 10, 50)
IDLE_STREAMS = 1000
#: streams each contender serves, at concurrency 10 and of both sizes, before anything is timed:
#: its imports, connection pools, caches and first receipts are made then, as in a server that
#: has been up a while (without it, the first cell's tail included the gateways' start-up)
WARMUP_STREAMS = 400
KEY_ENV = "BENCH_GATEWAY_KEY"  # how a contender's key reaches the load generator

LITELLM_ENV = {  # off the network, no .env, no master key (llmring runs with --no-auth too)
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- processes ------------------------------------------------------------------------------


class Upstream:
    """``bench/server.py`` in its own process; it runs until its stdin closes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [str(PYTHON), str(BENCH / "server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.base_url = f"http://127.0.0.1:{self.port}/m/v1"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


@dataclass
class Gateway:
    """A gateway server process (and its workers), started in a session of its own."""

    name: str
    command: list[str]
    health: str  # path answering 200 when ready
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    output: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def start(self, workdir: Path, timeout: float = 120) -> None:
        self.output = open(workdir / f"{self.name}.log", "wb")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail(workdir)}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}{self.health}", timeout=2
                ) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s: {self.tail(workdir)}")

    def tail(self, workdir: Path) -> str:
        text = (workdir / f"{self.name}.log").read_text(errors="replace")
        return text[-1500:]

    def pids(self) -> list[int]:
        """The server process and all its descendants (the workers of a multi-worker one)."""
        if self.process is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def memory_kb(self, key: str) -> dict[int, int]:
        """``VmHWM`` (peak) or ``VmRSS`` (now) of every process, in kB."""
        sizes = {}
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        sizes[pid] = int(line.split()[1])
            except OSError:
                continue
        return sizes

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the session this script started
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self.output is not None:
            self.output.close()


def llmring_lockfile(upstream: Upstream) -> str:
    streams = [*SIZES.values(), PACED, HOLD]
    lines = ['version = "1.0"', 'default_profile = "default"', "", "[profiles.default]"]
    lines += ['name = "default"', ""]
    for stream in streams:
        lines += ["[[profiles.default.bindings]]", f'alias = "{stream}"']
        lines += [f'models = ["up:{stream}"]', ""]
    lines += ["[providers.up]", 'type = "openai"', f'base_url = "{upstream.base_url}"']
    lines += ['api_key_env = "BENCH_UPSTREAM_KEY"', ""]
    for stream in streams:  # priced, as a real model is: the receipt carries a cost
        lines += [f'[prices."up:{stream}"]', "input = 1", "output = 2", ""]
    return "\n".join(lines)


def litellm_config(upstream: Upstream) -> str:
    lines = ["model_list:"]
    for stream in [*SIZES.values(), PACED, HOLD]:
        lines += [
            f"  - model_name: {stream}",
            "    litellm_params:",
            f"      model: openai/{stream}",
            f"      api_base: {upstream.base_url}",
            "      api_key: sk-bench",
            "    model_info:  # in its cost map, as a real model is",
            "      input_cost_per_token: 0.000001",
            "      output_cost_per_token: 0.000002",
        ]
    lines += ["litellm_settings:", "  telemetry: false", ""]
    return "\n".join(lines)


def llmring_gateway(
    name: str,
    upstream: Upstream,
    workdir: Path,
    workers: int,
    launcher: list[str] | None = None,
    *,
    receipts: str | None = None,
    auth: bool = False,
) -> Gateway:
    """``llmring serve`` on the upstream's streams; receipts in ``receipts`` (a store URL,
    default a SQLite file named after the gateway), with ``--no-auth`` unless ``auth``."""
    lock = workdir / "llmring.lock"
    lock.write_text(llmring_lockfile(upstream))
    port = free_port()
    command = launcher or [str(PYTHON.parent / "llmring")]
    command = [*command, "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--file", str(lock), "--receipts", receipts or f"sqlite:///{workdir / name}.db"]
    if not auth:
        command.append("--no-auth")
    command += ["--max-streams", str(IDLE_STREAMS + 100), "--workers", str(workers)]
    return Gateway(name, command, "/healthz", {"BENCH_UPSTREAM_KEY": "sk-bench"}, port)


def litellm_gateway(upstream: Upstream, workdir: Path) -> Gateway:
    from peers import ensure_peer

    python = ensure_peer("litellm-proxy")
    config = workdir / "litellm.yaml"
    config.write_text(litellm_config(upstream))
    port = free_port()
    command = [str(python.parent / "litellm"), "--config", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    return Gateway("litellm", command, "/health/liveliness", dict(LITELLM_ENV), port)


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    url: str
    gateway: Gateway | None = None
    key: str | None = None  # the gateway key the load generator sends (default: sk-bench)


@dataclass
class Cell:
    """Every stream one contender timed for one (stream, concurrency), across rounds."""

    ttfc: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    wall: float = 0.0
    texts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    failed: int = 0
    cut: int = 0  # streams abandoned at the cell's hard limit
    sent: int = 0  # requests written, warm-up ones too

    @property
    def ok(self) -> bool:
        return bool(self.total or self.cut) and not self.failed and not self.errors

    def rate(self) -> float:
        return len(self.total) / self.wall if self.wall else 0.0

    def rate_bound(self) -> float:
        """At most this many req/s: as if every abandoned stream had been about to finish."""
        return (len(self.total) + self.cut) / self.wall if self.wall else 0.0

    def rate_text(self) -> str:
        if not self.ok:
            return "failed"
        if self.cut:
            return f"≤ {self.rate_bound():,.1f} ({len(self.total)} done, {self.cut} cut)"
        return f"{self.rate():,.0f}"


def loadgen(
    url: str, model: str, *extra: str, timeout: float = 600, env: dict[str, str] | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as temp:
        out = Path(temp) / "result.json"
        command = [str(PYTHON), str(LOADGEN), "--url", url, "--model", model, *extra]
        command += ["--out", str(out)]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, **env} if env else None,
            )
        except subprocess.TimeoutExpired:
            return {"errors": [f"load generator timed out after {timeout} s"], "failed": 1}
        if not out.exists():
            return {"errors": [f"load generator exit {done.returncode}: {done.stderr[-600:]}"]}
        return dict(json.loads(out.read_text()))


def digest(text: str) -> str:
    import hashlib

    return f"{len(text)}:{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def add(cell: Cell, result: dict[str, Any], expected: str) -> None:
    cell.ttfc += result.get("ttfc", [])
    cell.total += result.get("total", [])
    cell.gaps += result.get("gaps", [])
    cell.wall += result.get("wall", 0.0)
    cell.cut += int(result.get("cut", 0))
    cell.sent += int(result.get("sent", 0))
    cell.failed += int(result.get("failed", 0))
    cell.errors += result.get("errors", [])
    for text, count in result.get("texts", {}).items():
        cell.texts[text] = cell.texts.get(text, 0) + count
        if text != expected and not any("other text" in e for e in cell.errors):
            cell.errors.append(f"received other text than expected ({text} != {expected})")


@dataclass
class Results:
    contenders: list[str]
    cells: dict[tuple[str, int, str], Cell] = field(default_factory=dict)
    paced: dict[str, Cell] = field(default_factory=dict)
    peak_kb: dict[str, dict[int, int]] = field(default_factory=dict)
    idle_kb: dict[str, dict[int, int]] = field(default_factory=dict)
    idle_held: dict[str, str] = field(default_factory=dict)
    workers: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    load: list[float] = field(default_factory=lambda: [os.getloadavg()[0]])
    seconds: float = 0.0
    command: str = ""


def measure(
    contenders: list[Contender], results: Results, *, rounds: int, seconds: float, paced: int
) -> None:
    cells = [(size, c) for size in SIZES for c in CONCURRENCY]
    warm_up(contenders)
    turn = 0
    for number in range(rounds):
        for size, concurrency in cells:
            turn += 1
            figures = run_cell(contenders, results, size, concurrency, seconds, turn)
            log(f"round {number + 1}/{rounds}: {size} chunks, c={concurrency}: {figures}")
        expected = digest(expected_text(20))
        for contender in contenders:
            result = loadgen(contender.url, PACED, "--requests", str(paced), "--gaps")
            add(results.paced.setdefault(contender.name, Cell()), result, expected)
        log(f"round {number + 1}/{rounds}: paced stream done")


def keyed(contender: Contender) -> tuple[list[str], dict[str, str] | None]:
    """The load generator's arguments and environment for ``contender``'s key."""
    if contender.key is None:
        return [], None
    return ["--key-env", KEY_ENV], {KEY_ENV: contender.key}


def warm_up(contenders: list[Contender]) -> None:
    """:data:`WARMUP_STREAMS` untimed streams through every contender."""
    for contender in contenders:
        arguments, env = keyed(contender)
        for model in SIZES.values():
            loadgen(
                contender.url,
                model,
                "--concurrency",
                "10",
                "--requests",
                str(WARMUP_STREAMS // len(SIZES)),
                *arguments,
                env=env,
            )
    log(f"warmed up: {WARMUP_STREAMS} streams through each contender")


def run_cell(
    contenders: list[Contender],
    results: Results,
    size: str,
    concurrency: int,
    seconds: float,
    turn: int,
) -> str:
    """One cell: every contender streams ``size`` chunks at ``concurrency`` for ``seconds``, in
    an order rotated by ``turn``; the streams go into ``results``. Returns each one's req/s."""
    expected = digest(expected_text(int(size)))
    order = contenders[turn % len(contenders) :] + contenders[: turn % len(contenders)]
    figures = []
    for contender in order:
        arguments, env = keyed(contender)
        result = loadgen(
            contender.url,
            SIZES[size],
            "--concurrency",
            str(concurrency),
            "--seconds",
            str(seconds),
            "--requests",
            "100000",
            "--warmup",
            str(min(concurrency, 2)),
            "--cut",
            str(seconds + max(5.0, seconds)),
            *arguments,
            env=env,
        )
        cell = results.cells.setdefault((size, concurrency, contender.name), Cell())
        add(cell, result, expected)
        done = len(result.get("total", []))
        wall = result.get("wall", 0) or 1
        figures.append(f"{contender.name} {done / wall:.0f}/s")
    return ", ".join(figures)


def idle_rss(gateway: Gateway, streams: int, timeout: float) -> tuple[dict[int, int], str]:
    """The gateway's RSS while ``streams`` idle streams are open through it."""
    command = [str(PYTHON), str(LOADGEN), "--url", gateway.url, "--model", HOLD]
    command += ["--hold", str(streams), "--timeout", str(timeout)]
    holder = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdin is not None
    line = holder.stdout.readline()
    try:
        report: dict[str, Any] = (
            json.loads(line) if line.startswith("{") else {"held": 0, "errors": [line]}
        )
        time.sleep(1)  # let the gateway settle
        sizes = gateway.memory_kb("VmRSS")
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        try:
            holder.wait(60)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    held = f"{report.get('held', 0)}/{streams} open"
    if report.get("errors"):
        held += f"; {report.get('failed', 0)} failed: {str(report['errors'][0])[:120]}"
    return sizes, held


# -- report ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float | None, sign: bool = False) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:+.2f}" if sign else f"{seconds * 1000:.2f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def added(results: Results, size: str, c: int, name: str, key: str, q: float) -> float | None:
    ours = results.cells.get((size, c, name))
    base = results.cells.get((size, c, "direct"))
    if not ours or not base or not ours.ok or not base.ok:
        return None
    if not getattr(ours, key) or not getattr(base, key):
        return None
    return pct(getattr(ours, key), q) - pct(getattr(base, key), q)


def per_chunk(results: Results, name: str) -> float | None:
    """(added end latency of the 200-chunk stream - of the 20-chunk one) / 180, at c=1, p50."""
    long, short = (
        added(results, "200", 1, name, "total", 0.5),
        added(results, "20", 1, name, "total", 0.5),
    )
    if long is None or short is None:
        return None
    return (long - short) / 180


def litellm_ratio(results: Results, size: str, c: int, name: str) -> float | None:
    """``name``'s req/s over LiteLLM's; over its upper bound where LiteLLM's streams were cut
    (so the ratio is never overstated)."""
    ours = results.cells.get((size, c, name))
    lite = results.cells.get((size, c, "litellm"))
    if not ours or not lite or not ours.ok or not lite.ok or not lite.rate_bound():
        return None
    return ours.rate() / lite.rate_bound()


def versus_litellm(results: Results, size: str, c: int, name: str) -> str:
    ratio = litellm_ratio(results, size, c, name)
    if ratio is None:
        return "-"
    lite = results.cells[(size, c, "litellm")]
    return f"{'≥ ' if lite.cut else ''}{ratio:.1f}×"


def latency_table(results: Results) -> str:
    rows = []
    for size in SIZES:
        for c in CONCURRENCY:
            for name in results.contenders:
                cell = results.cells.get((size, c, name))
                if cell is None:
                    continue
                if not cell.ok or not cell.total:
                    why = (cell.errors or ["no stream finished"])[0][:100]
                    rows.append([size, str(c), name, why, "", "", "", "", "", "", "", ""])
                    rows[-1][-1] = cell.rate_text()
                    continue
                rows.append(
                    [
                        size,
                        str(c),
                        name,
                        ms(pct(cell.ttfc, 0.5)),
                        ms(pct(cell.ttfc, 0.99)),
                        ms(pct(cell.total, 0.5)),
                        ms(pct(cell.total, 0.99)),
                        ms(added(results, size, c, name, "ttfc", 0.5), True),
                        ms(added(results, size, c, name, "ttfc", 0.99), True),
                        ms(added(results, size, c, name, "total", 0.5), True),
                        ms(added(results, size, c, name, "total", 0.99), True),
                        cell.rate_text(),
                    ]
                )
    header = ["chunks", "c", "contender", "first chunk p50 ms", "p99", "end p50 ms", "p99"]
    header += ["added first p50", "p99", "added end p50", "p99", "req/s"]
    return table(header, rows)


def rate_table(results: Results) -> str:
    gateways = [n for n in results.contenders if n != "direct"]
    rows = []
    for size in SIZES:
        for c in CONCURRENCY:
            row = [size, str(c)]
            for name in results.contenders:
                cell = results.cells.get((size, c, name))
                row.append(cell.rate_text() if cell else "-")
            for name in gateways:
                if name != "litellm":
                    row.append(versus_litellm(results, size, c, name))
            rows.append(row)
    header = ["chunks", "c", *results.contenders]
    header += [f"{n} ÷ litellm" for n in gateways if n != "litellm"]
    return table(header, rows)


def memory_table(results: Results) -> str:
    rows = []
    for name in results.contenders:
        if name == "direct":
            continue
        peak = results.peak_kb.get(name, {})
        idle = results.idle_kb.get(name, {})
        workers = results.workers.get(name, 1)
        rows.append(
            [
                name,
                str(workers),
                f"{sum(peak.values()) / 1024:.0f}" if peak else "-",
                f"{sum(idle.values()) / 1024:.0f}" if idle else "-",
                f"{max(idle.values()) / 1024:.0f}" if idle else "-",
                results.idle_held.get(name, "-"),
            ]
        )
    header = ["gateway", "workers", "peak RSS MB (all processes)"]
    header += [f"RSS MB, {IDLE_STREAMS:,} idle streams (all)", "largest process MB", "streams"]
    return table(header, rows)


def gaps_table(results: Results) -> str:
    rows = []
    for name in results.contenders:
        cell = results.paced.get(name)
        if cell is None:
            continue
        if not cell.ok or not cell.gaps:
            rows.append([name, "failed", (cell.errors or ["no gaps"])[0][:100], "", ""])
            continue
        rows.append(
            [
                name,
                ms(pct(cell.gaps, 0.5)),
                ms(pct(cell.gaps, 0.01)),
                ms(pct(cell.gaps, 0.99)),
                str(len(cell.gaps)),
            ]
        )
    return table(["contender", "gap p50 ms", "p1", "p99", "gaps"], rows)


def targets(results: Results) -> list[tuple[str, bool | None, str]]:
    checks: list[tuple[str, bool | None, str]] = []
    for name in results.contenders:
        if not name.startswith("llmring"):
            continue
        for key, label in (("ttfc", "first chunk"), ("total", "end")):
            p50 = added(results, "20", 1, name, key, 0.5)
            p99 = added(results, "20", 1, name, key, 0.99)
            if p50 is not None and p99 is not None:
                checks.append(
                    (
                        f"{name}: added to the {label} p50 ≤ 1 ms, p99 ≤ 3 ms (20 chunks, c=1)",
                        p50 <= 0.001 and p99 <= 0.003,
                        f"{p50 * 1000:+.2f} / {p99 * 1000:+.2f} ms",
                    )
                )
        cost = per_chunk(results, name)
        if cost is not None:
            checks.append((f"{name}: ≤ 15 µs per chunk", cost <= 15e-6, f"{cost * 1e6:.1f} µs"))
        for size in SIZES:
            for c in CONCURRENCY:
                ratio = litellm_ratio(results, size, c, name)
                if ratio is not None:
                    checks.append(
                        (
                            f"{name}: ≥ 2× LiteLLM's req/s ({size} chunks, c={c})",
                            ratio >= 2,
                            versus_litellm(results, size, c, name),
                        )
                    )
        idle = results.idle_kb.get(name)
        if idle:
            biggest = max(idle.values()) / 1024
            whole = sum(idle.values()) / 1024
            figure = f"{biggest:.0f} MB (the largest process)"
            workers = results.workers.get(name, 1)
            if workers == 1:
                checks.append(
                    (
                        f"{name}: RSS ≤ 120 MB per worker, {IDLE_STREAMS:,} idle streams",
                        biggest <= 120 and "failed" not in results.idle_held.get(name, ""),
                        figure,
                    )
                )
            else:  # each worker holds a share of the streams: not what the target asks
                label = (
                    f"{name}: RSS per worker, {IDLE_STREAMS:,} idle streams over {workers}"
                    f" workers (about {IDLE_STREAMS // workers:,} each: not the target)"
                )
                checks.append(
                    (
                        label,
                        None,
                        f"{figure}; {whole:.0f} MB in all {len(idle)} processes",
                    )
                )
        paced = results.paced.get(name)
        if paced and paced.ok and paced.gaps:
            gap = pct(paced.gaps, 0.5)
            checks.append(
                (
                    f"{name}: 20 ms gaps arrive as 20 ± 1 ms (p50)",
                    abs(gap - 0.020) <= 0.001,
                    ms(gap),
                )
            )
    return checks


def tables(results: Results) -> str:
    cost_rows = []
    for name in results.contenders:
        if name == "direct":
            continue
        cost = per_chunk(results, name)
        cost_rows.append([name, "-" if cost is None else f"{cost * 1e6:.1f}"])
    verdict = {True: "PASS", False: "MISS", None: "-"}
    target_rows = [[label, verdict[ok], value] for label, ok, value in targets(results)]
    return "\n\n".join(
        [
            "### Latency (every timed stream; added = contender − direct, same percentile)\n\n"
            + latency_table(results),
            "### Requests per second\n\n" + rate_table(results),
            "### Serving cost per chunk\n\n"
            "(added end latency of the 200-chunk stream − of the 20-chunk one) / 180, at c=1,"
            " p50.\n\n" + table(["gateway", "µs per chunk"], cost_rows),
            "### Gaps of a stream paced 20 ms apart, as received\n\n" + gaps_table(results),
            "### Memory\n\n"
            "Peak RSS: `VmHWM` of the gateway's processes after the load above (summed over a"
            " multi-worker server's processes). Idle streams: `VmRSS` while "
            f"{IDLE_STREAMS:,} streams are open through the gateway, each after its first"
            " content chunk (opened 100 at a time).\n\n" + memory_table(results),
            "### Targets\n\n" + table(["target", "result", "figure"], target_rows),
        ]
    )


def versions() -> str:
    from importlib.metadata import version

    ours = version("llmring")
    stack = ", ".join(
        f"{p} {version(p)}" for p in ("uvicorn", "uvloop", "httptools", "openai", "aiohttp")
    )
    return f"llmring {ours} ({stack}); LiteLLM proxy {LITELLM_PIN} (`litellm[proxy]`, its own venv)"


def write(results: Results, rounds: int, seconds: float) -> None:
    plot(results, OUT.with_suffix(".png"))
    text = (
        "# Benchmark: `llmring serve`\n\n"
        f"Measured {datetime.date.today().isoformat()} on {machine()} with"
        f" `{results.command}` ({results.seconds / 60:.0f} minutes; see bench/README.md)."
        f" {versions()}.\n\n"
        "Four processes share the machine's cores: the upstream (`bench/server.py`, synthetic"
        " OpenAI streams), the gateway, the load generator (`bench/loadgen.py`, the same for"
        " every contender) and this script. **direct** is the load generator posting straight"
        " to the upstream; **llmring** is `llmring serve` with receipts on (SQLite) and no"
        " auth; **llmring-2w** the same with `--workers 2`; **litellm** is LiteLLM's proxy"
        " with no database and no master key. The 20- and 200-chunk streams come in one write"
        f" from the upstream. First {WARMUP_STREAMS} untimed streams go through every"
        f" contender. Then {rounds} round(s); in each, every contender streams for"
        f" {seconds:g} s per cell after two warm-up streams, the order rotating"
        " from cell to cell. Times run from just before the request is written to the first"
        " content chunk and to the end of the body. The 1-minute load average was"
        f" {results.load[0]:.1f} at the start and {results.load[-1]:.1f} at the end: other"
        " work on the machine shows in the spread.\n\n"
        "![Added latency and requests per second](benchmarks-serve.png)\n\n"
        f"## Results\n\n{tables(results)}\n"
    )
    OUT.write_text(text)


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gateways = [n for n in results.contenders if n != "direct"]
    palette = plt.get_cmap("tab10")
    colour = {name: palette(i) for i, name in enumerate(results.contenders)}
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.8 / max(1, len(gateways))
    for offset, name in enumerate(gateways):
        values = []
        for size in SIZES:
            value = added(results, size, 1, name, "total", 0.5)
            values.append(0.0 if value is None else value * 1000)
        xs = [i + offset * width for i in range(len(SIZES))]
        left.bar(xs, values, width, label=name, color=colour[name])
    left.set_xticks([i + width * (len(gateways) - 1) / 2 for i in range(len(SIZES))])
    left.set_xticklabels([f"{s} chunks" for s in SIZES])
    left.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="target at 20 chunks: 1 ms")
    left.set_ylabel("added latency to the end, p50, c=1 (ms)")
    left.set_yscale("log")
    left.set_title("Latency added over direct (lower is better)")
    left.legend()
    width = 0.8 / max(1, len(results.contenders))
    for offset, name in enumerate(results.contenders):
        values = []
        for c in CONCURRENCY:
            cell = results.cells.get(("20", c, name))
            values.append(cell.rate() if cell and cell.ok else 0.0)
        xs = [i + offset * width for i in range(len(CONCURRENCY))]
        right.bar(xs, values, width, label=name, color=colour[name])
    right.set_xticks([i + width * (len(results.contenders) - 1) / 2 for i in range(3)])
    right.set_xticklabels([f"c={c}" for c in CONCURRENCY])
    right.set_ylabel("requests per second, 20-chunk stream")
    right.set_yscale("log")
    right.set_title("Throughput (higher is better)")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- profile --------------------------------------------------------------------------------


def profile(upstream: Upstream, workdir: Path, streams: int, keep: Path) -> None:
    """cProfile ``llmring serve``'s event loop over ``streams`` c=1 20-chunk streams."""
    launcher = [str(PYTHON), str(BENCH / "serve_profile.py"), str(keep)]
    gateway = llmring_gateway("llmring", upstream, workdir, 1, launcher)
    gateway.start(workdir)
    try:
        loadgen(gateway.url, SIZES["20"], "--requests", "200")  # warm
        assert gateway.process is not None
        os.kill(gateway.process.pid, signal.SIGUSR1)  # start profiling
        result = loadgen(gateway.url, SIZES["20"], "--requests", str(streams))
        os.kill(gateway.process.pid, signal.SIGUSR1)  # stop and dump
        time.sleep(1)
    finally:
        gateway.stop()
    import pstats

    done = len(result.get("total", []))
    log(f"{done} streams, {result.get('failed', 0)} failed; the stats are in {keep}")
    stats = pstats.Stats(str(keep))
    by_package: dict[str, float] = {}
    for (filename, _, _), row in stats.stats.items():  # type: ignore[attr-defined]
        by_package[package(filename)] = by_package.get(package(filename), 0.0) + row[2]
    whole = sum(by_package.values())
    rows = [
        [name, f"{seconds / max(1, done) * 1e6:.0f}", f"{seconds / whole:.0%}"]
        for name, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:15]
    ]
    print("Own time by package, per stream (under cProfile, which inflates it):\n")
    print(table(["package", "µs per stream", "share"], rows) + "\n")
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(60)


def package(filename: str) -> str:
    """``uvicorn``, ``llmring.serve``, ``stdlib asyncio``, ... for a profiled function's file."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/src/llmring/" in filename:
        parts = filename.split("/src/llmring/", 1)[1].split("/")
        return "llmring." + parts[0].removesuffix(".py")
    if filename.startswith(("~", "<")):
        return "builtins"
    if "/lib/python3" in filename:
        return "stdlib " + filename.split("/lib/python3", 1)[1].split("/")[1].removesuffix(".py")
    return filename


# -- main -----------------------------------------------------------------------------------


def ensure_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("installing matplotlib for the plot")
        subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "matplotlib"], check=True)


@contextmanager
def running(gateways: list[Gateway], workdir: Path) -> Iterator[None]:
    with ExitStack() as stack:
        for gateway in gateways:
            log(f"starting {gateway.name}")
            stack.callback(gateway.stop)
            gateway.start(workdir)
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round, shorter cells")
    parser.add_argument("--rounds", type=int, help="rounds of every cell (default 3, quick 1)")
    parser.add_argument("--seconds", type=float, help="seconds per cell (default 4, quick 1.5)")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM's proxy out")
    parser.add_argument("--no-workers", action="store_true", help="leave --workers 2 out")
    parser.add_argument("--profile", type=int, metavar="N", help="profile llmring serve only")
    parser.add_argument("--profile-out", type=Path, default=Path("/tmp/bench-serve.prof"))
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (1.5 if args.quick else 4.0)
    ensure_matplotlib()
    upstream = Upstream()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-serve-") as temp:
            workdir = Path(temp)
            if args.profile:
                profile(upstream, workdir, args.profile, args.profile_out)
                return
            gateways = [llmring_gateway("llmring", upstream, workdir, 1)]
            if not args.no_workers:
                gateways.append(llmring_gateway("llmring-2w", upstream, workdir, 2))
            if not args.no_litellm:
                gateways.append(litellm_gateway(upstream, workdir))
            contenders = [Contender("direct", f"{upstream.base_url}/chat/completions")]
            contenders += [Contender(g.name, g.url, g) for g in gateways]
            results = Results([c.name for c in contenders])
            results.command = "python bench/serve.py" + " ".join([""] + [a for a in sys.argv[1:]])
            with running(gateways, workdir):
                for gateway in gateways:
                    results.workers[gateway.name] = 2 if gateway.name.endswith("-2w") else 1
                measure(
                    contenders,
                    results,
                    rounds=rounds,
                    seconds=seconds,
                    paced=10 if args.quick else 25,
                )
                for gateway in gateways:
                    results.peak_kb[gateway.name] = gateway.memory_kb("VmHWM")
                for gateway in gateways:
                    log(f"{gateway.name}: opening {IDLE_STREAMS} idle streams")
                    sizes, held = idle_rss(gateway, IDLE_STREAMS, 60 if args.quick else 150)
                    results.idle_kb[gateway.name] = sizes
                    results.idle_held[gateway.name] = held
                    log(f"{gateway.name}: {held}, {sum(sizes.values()) / 1024:.0f} MB")
            results.seconds = time.monotonic() - results.started
            results.load.append(os.getloadavg()[0])
            print(tables(results))
            write(results, rounds, seconds)
            log(f"wrote {OUT.relative_to(ROOT)} and its plot in {results.seconds / 60:.1f} min")
    finally:
        upstream.close()


if __name__ == "__main__":
    main()
