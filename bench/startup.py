"""Start-up figures: import time, the first stream of a fresh process, ``--help``; versions."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from measure import Contender, log, wall_times

IMPORTS = {
    "floor": "import httpx",
    "raw": "import openai",
    "llmring": "import llmring",
    "litellm": "import litellm",
    "llmring140": "import llmring",
}
CLIS = {"llmring": "llmring", "litellm": "litellm", "llmring140": "llmring"}
PACKAGES = [
    "llmring",
    "openai",
    "anthropic",
    "google-genai",
    "google-generativeai",
    "ollama",
    "httpx",
    "httpx2",
    "pydantic",
    "litellm",
]


def measure(
    contenders: list[Contender], server: Any, *, quick: bool
) -> dict[str, dict[str, list[float]]]:
    repeats = 5 if quick else 11
    figures: dict[str, dict[str, list[float]]] = {}
    for contender in contenders:
        row: dict[str, list[float]] = {}
        statement = IMPORTS.get(contender.name)
        if statement:
            log(f"start-up: {statement} ({contender.name}) x {repeats}")
            row["import"] = wall_times([str(contender.python), "-c", statement], repeats)
        if "openai" in contender.providers:
            log(f"start-up: first openai stream in a fresh process ({contender.name})")
            row["first_stream"] = wall_times(
                [
                    str(contender.python),
                    str(contender.runner),
                    "--contender",
                    contender.name,
                    "--provider",
                    "openai",
                    "--root",
                    server.root("openai", 200),
                    "--streams",
                    "1",
                    "--warmup",
                    "0",
                ],
                max(3, repeats // 2),
            )
        cli = CLIS.get(contender.name)
        if cli:
            executable = contender.python.parent / cli
            if executable.exists():
                log(f"start-up: {cli} --help ({contender.name})")
                row["help"] = wall_times([str(executable), "--help"], repeats)
        figures[contender.name] = row
    return figures


def versions(contenders: list[Contender]) -> dict[str, dict[str, str]]:
    script = (
        "import importlib.metadata as m, json, sys\nfound = {}\n"
        f"for name in {PACKAGES!r}:\n"
        "    try:\n        found[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n        pass\n"
        "found['python'] = sys.version.split()[0]\nprint(json.dumps(found))"
    )
    seen: dict[str, dict[str, str]] = {}
    for contender in contenders:
        key = str(contender.python)
        if key not in seen:
            done = subprocess.run([key, "-c", script], capture_output=True, text=True, check=False)
            seen[key] = json.loads(done.stdout or "{}")
    return {c.name: seen[str(c.python)] for c in contenders}
