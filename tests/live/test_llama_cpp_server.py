"""Live: a real OpenAI-compatible server (llama-cpp-python's ``llama_cpp.server``) running a
tiny random-weight llama model generated here, reached through a ``[providers.local]`` alias.

Skipped only when llama-cpp-python is not installed (``.ci/run`` installs it; it builds from
source in about ten minutes on two cores); under CI (``LLMRING_CI=1``) that is a failure.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmring import LLMRequest, LLMRing, Message
from tests.ci import require_or_skip

pytestmark = pytest.mark.live


@pytest.fixture(autouse=True, scope="module")
def llama_cpp_installed() -> None:
    require_or_skip(
        importlib.util.find_spec("llama_cpp") is not None,
        "llama-cpp-python is not installed (.ci/run installs it: "
        "pip install 'llama-cpp-python[server]')",
    )


EOS_TOKEN_ID = 2  # see tiny_llama.vocabulary(); biased away so replies run to max_tokens


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    def __init__(self, model: Path, log: Path) -> None:
        self.port = _free_port()
        self.log = log
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--chat_format",
                "chatml",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "2048",
                "--verbose",
                "False",
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"llama_cpp.server exited:\n{self.log.read_text(errors='replace')}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"llama_cpp.server did not start in {timeout}s")

    def log_text(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    from tests.live.tiny_llama import write_tiny_llama

    folder = tmp_path_factory.mktemp("llama")
    server = LlamaServer(write_tiny_llama(folder / "tiny.gguf"), folder / "server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def lockfile(project: Path, llama_server: LlamaServer) -> Path:
    path = project / "llmring.lock"
    path.write_text(
        'version = "1.0"\ndefault_profile = "default"\n\n[profiles.default]\nname = "default"\n\n'
        '[[profiles.default.bindings]]\nalias = "local-chat"\nmodels = ["local:tiny"]\n\n'
        f'[providers.local]\ntype = "openai"\nbase_url = "{llama_server.base_url}"\n',
        encoding="utf-8",
    )
    return path


def chat_request(max_tokens: int) -> LLMRequest:
    return LLMRequest(
        model="local-chat",
        messages=[Message(role="user", content="Say something.")],
        max_tokens=max_tokens,
        temperature=0,
        extra_params={"logit_bias": {str(EOS_TOKEN_ID): -100}},
    )


async def test_streams_real_tokens_to_one_terminal_chunk(lockfile: Path) -> None:
    async with LLMRing(lockfile) as ring:
        chunks = [chunk async for chunk in ring.chat_stream(chat_request(12))]
    *content, terminal = chunks
    assert len(content) >= 6 and all(chunk.delta for chunk in content)
    assert not any(chunk.is_terminal for chunk in content)
    assert terminal.is_terminal and terminal.delta == ""
    assert (terminal.finish_reason, terminal.finish_reason_raw) == ("length", "length")
    assert (terminal.provider, terminal.model) == ("local", "tiny")
    assert terminal.usage is None  # llama_cpp.server sends no usage chunk in streams
    text = "".join(chunk.delta for chunk in content)
    assert text.strip() and all(ch.isprintable() or ch.isspace() for ch in text)


async def test_breaking_early_makes_the_server_see_a_disconnect(
    lockfile: Path, llama_server: LlamaServer
) -> None:
    before = llama_server.log_text().count("Disconnected from client")
    async with LLMRing(lockfile) as ring:
        async with ring.chat_stream(chat_request(1800)) as stream:
            async for chunk in stream:
                assert chunk.delta
                break
        deadline = time.monotonic() + 10
        while llama_server.log_text().count("Disconnected from client") == before:
            assert time.monotonic() < deadline, llama_server.log_text()[-2000:]
            await asyncio.sleep(0.05)
