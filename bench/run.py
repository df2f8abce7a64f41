"""The benchmark: llmring against the raw SDKs, the peers and a bare-httpx floor, in one run.

    .venv/bin/python bench/run.py            # everything (about 15-25 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # fewer rounds, no 20,000-chunk streams

It starts the loopback streaming server (``bench/server.py``), installs the peers into their
own venvs under ``bench/.envs`` on first use (``bench/peers.py``), runs every contender on
every workload in alternating rounds, then measures start-up, 1,000 concurrent streams and
memory on long streams. It prints the tables and writes ``docs/benchmarks.md`` and
``docs/benchmarks.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import BENCH, ROOT, Contender, Sample, log, run_runner, sample_rounds
from streams import PROVIDERS, expected_text

PROJECT_PYTHON = Path(sys.executable)
PEER_LABELS = {"litellm": "LiteLLM", "llmring140": "llmring 1.4.0 (PyPI)"}
OURS = BENCH / "runners" / "ours.py"

#: (label, chunks, milliseconds between events or None for one write)
WORKLOADS = [
    ("200", 200, None),
    ("2000", 2000, None),
    ("20000", 20000, None),
    ("200 paced 2 ms", 200, 2.0),
]
#: recorded text streams replayed from tests/wire (text only, so every contender agrees)
RECORDED = {
    "openai": "openai/chat-gpt-4o-mini-text-usage.sse",
    "openai-responses": "openai/responses-gpt-5.5-text-after-tool.sse",
    "anthropic": "anthropic/claude-sonnet-4-thinking-text.sse",
    "google": "gemini/gemini-2.5-pro-text.sse",
    "ollama": "ollama/gemma3-1b-long-text.ndjson",
}


@dataclass
class Results:
    workloads: dict[tuple[str, str], dict[str, Sample]] = field(default_factory=dict)
    recorded: dict[str, dict[str, Sample]] = field(default_factory=dict)
    startup: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    scale: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, dict[int, int]] = field(default_factory=dict)
    contenders: list[Contender] = field(default_factory=list)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)


class BenchServer:
    """``bench/server.py`` in its own process, so its work is not timed with the client's."""

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            [str(PROJECT_PYTHON), str(BENCH / "server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)

    def root(self, provider: str, chunks: int, delay_ms: float | None = None) -> str:
        suffix = f"-d{delay_ms:g}" if delay_ms else ""
        return f"http://127.0.0.1:{self.port}/s/{provider}-{chunks}{suffix}"

    def recorded_root(self, relative: str) -> str:
        return f"http://127.0.0.1:{self.port}/w/{relative}"


def text_key(text: str) -> str:
    return f"{len(text)}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def contenders(with_peers: bool) -> list[Contender]:
    ours = [
        Contender("floor", PROJECT_PYTHON, OURS, PROVIDERS, "bare httpx (floor)"),
        Contender("raw", PROJECT_PYTHON, OURS, PROVIDERS, "raw SDK"),
        Contender("llmring", PROJECT_PYTHON, OURS, PROVIDERS, "llmring"),
    ]
    if not with_peers:
        return ours
    from peers import PEERS, ensure_peer

    found = []
    for spec in PEERS.values():
        try:
            python = ensure_peer(spec.name)
        except Exception as exc:  # noqa: BLE001 - a peer that will not install is reported
            log(f"peer {spec.name} not available: {exc}")
            continue
        found.append(
            Contender(
                spec.contender,
                python,
                spec.runner,
                tuple(spec.providers),
                PEER_LABELS.get(spec.name, spec.name),
            )
        )
    return ours + found


def check_texts(samples: dict[str, Sample], expected: str | None, where: str) -> None:
    for name, sample in samples.items():
        if expected is not None and sample.texts and sample.texts != {expected}:
            sample.errors.append(f"received other text than expected ({sample.texts})")
        if sample.errors:
            log(f"  {where}: {name}: {sample.errors[0][:300]}")


def run_workloads(server: BenchServer, results: Results, rounds: int, quick: bool) -> None:
    for provider in PROVIDERS:
        taking = [c for c in results.contenders if provider in c.providers]
        for label, chunks, delay in WORKLOADS:
            if quick and chunks > 2000:
                continue
            streams = 1 if chunks >= 20000 else 3
            log(f"{provider} {label}: {', '.join(c.name for c in taking)} x {rounds} rounds")
            samples = sample_rounds(
                taking,
                provider,
                server.root(provider, chunks, delay),
                rounds=rounds if chunks < 20000 else max(2, rounds // 2),
                streams=streams,
            )
            check_texts(samples, text_key(expected_text(chunks)), f"{provider} {label}")
            results.workloads[(provider, label)] = samples
        relative = RECORDED[provider]
        log(f"{provider} recorded {relative}")
        samples = sample_rounds(
            taking, provider, server.recorded_root(relative), rounds=rounds, streams=3
        )
        texts = {t for s in samples.values() for t in s.texts}
        check_texts(samples, next(iter(texts)) if len(texts) == 1 else None, relative)
        results.recorded[provider] = samples


def run_scale(server: BenchServer, results: Results) -> None:
    for contender in results.contenders:
        if "openai" not in contender.providers or contender.name == "floor":
            continue
        log(f"scale: 1,000 concurrent openai streams of 200 chunks via {contender.name}")
        outcome = run_runner(
            contender,
            "openai",
            server.root("openai", 200),
            streams=1,
            warmup=1,
            concurrency=1000,
            timeout=600,
        )
        results.scale[contender.name] = outcome
    for contender in results.contenders:
        if contender.name not in ("llmring", "raw"):
            continue
        results.memory[contender.name] = {}
        for chunks in (1000, 100000):
            log(f"memory: one {chunks:,}-chunk openai stream via {contender.name}")
            outcome = run_runner(
                contender, "openai", server.root("openai", chunks), streams=1, warmup=0, timeout=600
            )
            results.memory[contender.name][chunks] = int(outcome.get("peak_rss_kb", 0))


def ensure_matplotlib() -> None:
    """The plot needs matplotlib; it is a benchmark tool, not a project dependency."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("installing matplotlib for the plot")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, no 20,000-chunk streams")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true", help="only floor, raw SDK, llmring")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    ensure_matplotlib()

    import report
    import startup

    results = Results(contenders=contenders(not args.no_peers))
    with BenchServer() as server:
        run_workloads(server, results, rounds, args.quick)
        if not args.quick:
            run_scale(server, results)
        results.startup = startup.measure(results.contenders, server, quick=args.quick)
    results.versions = startup.versions(results.contenders)
    print(report.tables(results))
    report.write(results, args.out)
    log(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
