"""The peer contenders: other libraries, each in a virtual environment of its own.

Peers are never project dependencies. :func:`ensure_peer` makes ``bench/.envs/<name>/`` with
``python3 -m venv`` and pip-installs the peer's pinned packages from PyPI on first use; later
calls re-use the venv while its marker file records the same pins and Python version. Each
peer's runner script (in ``bench/runners``) is then run with the venv's python, against the same
loopback server as every other contender.

``python bench/peers.py [NAME ...]`` makes (or checks) the named peers, all by default, and
prints each one's python.

The pins and what works, as tested against ``bench/server.py`` (2000-chunk synthetic streams):

* ``litellm``: ``litellm.acompletion(stream=True)`` for all four providers. 1.106.2 is the newest
  LiteLLM that installs from the package index used here: 1.106.3 to 1.109.1 require
  ``certifi>=2026.10.19``, which the index does not have.
* ``litellm-proxy``: the same LiteLLM with its proxy extra, for ``bench/serve.py`` (the
  gateway benchmark), in a venv of its own so the proxy's dependencies never touch the
  library peer's.
* ``llmring140``: the published ``llmring`` 1.4.0 (PyPI). Its SDKs are pinned to the newest
  releases it works with: ``anthropic`` 1.0 and later dropped ``temperature`` from
  ``messages.create``, which 1.4.0 always passes (``TypeError: AsyncMessages.create() got an
  unexpected keyword argument 'temperature'``), so ``anthropic==0.125.0``. See
  ``PeerSpec.broken`` for the providers where 1.4.0 fails, and why.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ENVS = BENCH / ".envs"
RUNNERS = BENCH / "runners"
MARKER = "bench-peer.json"


@dataclass(frozen=True)
class PeerSpec:
    name: str  # the venv's folder under bench/.envs, and the contender's name
    packages: tuple[str, ...]  # pinned pip requirements
    runner: Path  # run as: <venv python> runner --contender NAME --provider P --root URL ...
    providers: tuple[str, ...]  # providers it streams correctly on the bench's streams
    broken: dict[str, str] = field(default_factory=dict)  # provider -> why it fails
    notes: str = ""

    @property
    def contender(self) -> str:
        return self.name


PEERS: dict[str, PeerSpec] = {
    "litellm": PeerSpec(
        name="litellm",
        packages=("litellm==1.106.2", "openai==2.54.0"),
        runner=RUNNERS / "litellm_runner.py",
        providers=("openai", "anthropic", "google", "ollama"),
        notes=(
            "model prefixes openai/, anthropic/, gemini/, ollama_chat/; importing litellm "
            "takes about 2 s; its ollama_chat path also looks the model up (/api/show) at "
            "OLLAMA_API_BASE or http://localhost:11434, whatever api_base says, a few times "
            "per stream (refused at once when nothing listens there)"
        ),
    ),
    "llmring140": PeerSpec(
        name="llmring140",
        packages=(
            "llmring==1.4.0",
            "openai==3.54.0",
            "anthropic==0.125.0",
            "google-genai==3.4.0",
            "ollama==0.6.3",
        ),
        runner=RUNNERS / "llmring140_runner.py",
        providers=("openai", "anthropic"),
        broken={
            "google": (
                "1.4.0 reads the SDK's synchronous stream in a thread and hands chunks to the "
                "event loop with Queue(maxsize=100).put_nowait; on a 2000-chunk burst the "
                "reader runs ahead, QueueFull drops chunks and the end-of-stream marker, and the "
                "stream hangs (the runner reports TimeoutError 'stream stalled'). Works on "
                "paced streams (/s/google-N-d1/) and short ones. 1.4.0 also ignores base_url "
                "for Google: the runner sets google-genai's GOOGLE_GEMINI_BASE_URL."
            ),
            "ollama": (
                "1.4.0 iterates ollama.AsyncClient.chat(...) without awaiting it (a coroutine in "
                'every ollama release it allows, >=0.4): ProviderResponseError "Ollama error: '
                "'async for' requires an object with __aiter__ method, got coroutine\"."
            ),
        },
        notes=(
            "openai, anthropic and ollama are pointed at the server with "
            "LLMRing.register_provider(name, api_key=..., base_url=...); the runner gives "
            "1.4.0 a file:// registry and a temporary HOME so it never fetches its registry "
            "or touches ~/.cache/llmring"
        ),
    ),
}

#: Gateways (servers a client calls over HTTP, for ``bench/serve.py``), kept apart from
#: ``PEERS``, whose runners ``bench/run.py`` runs as in-process contenders.
GATEWAYS: dict[str, PeerSpec] = {
    "litellm-proxy": PeerSpec(
        name="litellm-proxy",
        packages=("litellm[proxy]==1.106.2", "openai==2.54.0"),
        runner=BENCH / "serve.py",  # no runner script: bench/serve.py starts its ``litellm`` CLI
        providers=("openai",),
        notes=(
            "LiteLLM's proxy server (``litellm --config``), no database and no master key: "
            "bench/serve.py starts it as a gateway process and drives it over HTTP"
        ),
    ),
}


def _python(env: Path) -> Path:
    return env / "bin" / "python"


def _wanted(spec: PeerSpec) -> dict[str, object]:
    return {
        "packages": list(spec.packages),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def _say(message: str) -> None:
    print(f"peers: {message}", file=sys.stderr, flush=True)


def ensure_peer(name: str) -> Path:
    """The python executable of peer ``name``'s venv, made and installed first if need be."""
    spec = PEERS[name] if name in PEERS else GATEWAYS[name]
    env = ENVS / name
    ENVS.mkdir(parents=True, exist_ok=True)
    with open(ENVS / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two orchestrators never build one venv at once
        marker = env / MARKER
        if _python(env).exists() and marker.exists():
            try:
                if json.loads(marker.read_text()) == _wanted(spec):
                    return _python(env)
            except ValueError:
                pass
            _say(f"{name}: pins changed, rebuilding {env}")
        started = time.monotonic()
        shutil.rmtree(env, ignore_errors=True)
        base = os.environ.get("BENCH_PEER_PYTHON") or shutil.which("python3") or sys.executable
        _say(f"{name}: creating {env.relative_to(BENCH.parent)} with {base}")
        _run([base, "-m", "venv", str(env)])
        _say(f"{name}: installing {' '.join(spec.packages)} (about a minute)")
        _run(
            [
                str(_python(env)),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                *spec.packages,
            ]
        )
        marker.write_text(json.dumps(_wanted(spec)))
        _say(f"{name}: ready in {time.monotonic() - started:.0f} s")
        return _python(env)


def _run(command: list[str]) -> None:
    done = subprocess.run(
        command, check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if done.returncode != 0:
        noise = "is ignored: it is neither a file nor a directory"  # local index warnings
        output = [line for line in (done.stdout + done.stderr).splitlines() if noise not in line]
        raise RuntimeError(
            f"{' '.join(command[:4])} ... failed ({done.returncode}):\n" + "\n".join(output[-30:])
        )


if __name__ == "__main__":
    for peer in sys.argv[1:] or [*PEERS, *GATEWAYS]:
        print(f"{peer}\t{ensure_peer(peer)}")
