"""The default ring (``llmring._default_ring``): one per event loop for bots, agents and the
toolkit, closed when its loop shuts down, and at interpreter exit for a loop still running."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmring import LLMRing
from llmring._default_ring import default_ring
from llmring.agents import Agent
from llmring.bots import AsyncSimpleBot

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[LLMRing]]:
    """Every ``LLMRing`` closed during the test, in order."""
    rings: list[LLMRing] = []
    original = LLMRing.aclose

    async def aclose(self: LLMRing) -> None:
        await original(self)
        rings.append(self)

    monkeypatch.setattr(LLMRing, "aclose", aclose)
    yield rings


async def test_bots_agents_and_the_toolkit_share_the_ring_of_the_loop() -> None:
    ring = default_ring()
    assert AsyncSimpleBot(mock_response="hi").ring is ring
    assert Agent(model="mock:echo").ring is ring
    assert default_ring() is ring


def test_the_ring_is_closed_when_its_loop_shuts_down(closed: list[LLMRing]) -> None:
    async def run() -> tuple[LLMRing, int]:
        assert (await Agent(model="mock:echo").arun("hello")).content == "hello"
        return default_ring(), len(closed)

    first, closed_while_running = asyncio.run(run())
    assert closed_while_running == 0
    assert closed == [first]  # asyncio.run shuts the loop's async generators down first
    second, closed_while_running = asyncio.run(run())
    assert closed_while_running == 1
    assert second is not first and closed == [first, second]  # one ring per loop


def test_no_default_ring_outside_an_event_loop() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        default_ring()


SYNC_BOT = """
import asyncio, atexit, os, sys, threading
from pathlib import Path

closed = []
# registered before llmring is imported, so it runs after llmring's own exit hook
atexit.register(lambda: print("closed at exit" if closed else "left open", flush=True))

from tests.loopback import LoopbackServer, Reply
from tests.wire_harness import lockfile_text

ready, url = threading.Event(), []


def serve() -> None:
    async def main() -> None:
        async with LoopbackServer(Reply.wire(sys.argv[1])) as server:
            url.append(server.base_url)
            ready.set()
            await asyncio.Event().wait()

    asyncio.run(main())


threading.Thread(target=serve, daemon=True).start()
ready.wait()
Path(os.environ["LLMRING_LOCKFILE_PATH"]).write_text(lockfile_text({"openai": url[0] + "/v1"}))

from llmring import LLMRing
from llmring.bots import SimpleBot

original = LLMRing.aclose


async def aclose(self: LLMRing) -> None:
    await original(self)
    closed.append(self)


LLMRing.aclose = aclose
bot = SimpleBot("be brief", model_name="openai:test-model", stream_target="none")
print(bot("hello").content, flush=True)
"""


def test_a_sync_bots_ring_is_closed_at_exit_without_a_warning(project: Path) -> None:
    # A sync bot's loop runs in a background thread for the life of the process; its ring
    # (the real openai SDK, connected to a loopback server) is closed at exit, silently,
    # even with every warning an error.
    script = project / "sync_bot.py"
    script.write_text(SYNC_BOT, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LLMRING_LOCKFILE_PATH": str(project / "llmring.lock"),
        "OPENAI_API_KEY": "sk-test-openai-0123456789abcdefghij",
    }
    wire = "openai/chat-gpt-4o-mini-text-usage.sse"
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script), wire],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["The capital of the UK is London.", "closed at exit"]
    assert done.stderr == ""
