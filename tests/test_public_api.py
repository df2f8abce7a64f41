"""The public surface: what `import llmring` offers, and what it must not import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import llmring
from llmring.providers.mock import count_tokens
from tests.helpers import write_lockfile

SDK_MODULES = ("openai", "anthropic", "google.genai", "ollama")

# The seed's snippet (DESIGN §1), verbatim, as docs/stream-contract.md shows it: it must run
# unchanged.
SEED_SNIPPET = """\
from llmring import LLMRing, LLMRequest, Message
from llmring.schemas import StreamChunk

async with LLMRing() as service:
    request = LLMRequest(model="chatbot", messages=[Message(role="user", content="Count to 10")])
    async for chunk in service.chat_stream(request):
        print(chunk.delta, end="", flush=True)
        if chunk.usage:
            print(chunk.usage["total_tokens"])
"""


def test_all_is_the_seed_surface_plus_bots_agent_and_streaming_tools() -> None:
    from llmring import bots, streaming

    seed = {"LLMRequest", "LLMResponse", "LLMRing", "Message", "StreamChunk"}
    toolkit = {
        "Agent",
        "ChatSession",
        "StreamingManager",
        "StreamingResponse",
        "collect_stream",
        "create_mock_stream",
        "stream_to_string",
        "stream_with_chunking",
        "wait_for_all",
    }
    assert seed <= set(llmring.__all__)
    assert set(llmring.__all__) - seed - toolkit == set(bots.__all__) - {
        "BaseMessage",
        "DocStore",
        "StructuredOutputError",
        "to_messages",
    }
    assert toolkit - {"Agent"} <= set(streaming.__all__)
    for name in llmring.__all__:
        assert getattr(llmring, name).__name__ == name


def test_streaming_and_agents_export_every_name_they_list() -> None:
    from llmring import agents, streaming

    for module in (streaming, agents):
        for name in module.__all__:
            assert getattr(module, name).__name__ == name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        llmring.Nope  # noqa: B018


def test_exceptions_module_exports_the_error_tree() -> None:
    from llmring import exceptions

    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        assert issubclass(cls, exceptions.LLMRingError)


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_import_llmring_imports_no_sdk_and_no_pydantic() -> None:
    loaded = _modules_after("import llmring")
    assert not [m for m in SDK_MODULES if m in loaded]
    assert "pydantic" not in loaded  # the public names load on first use


def test_the_toolkit_and_the_agent_import_no_sdk() -> None:
    loaded = _modules_after("from llmring.streaming import *\nfrom llmring.agents import *")
    assert "llmring.streaming._validation" in loaded and "llmring.agents" in loaded
    assert not [m for m in SDK_MODULES if m in loaded]


def test_using_the_mock_provider_imports_no_sdk(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]})
    code = (
        "import asyncio\nfrom llmring import LLMRing, LLMRequest\n"
        "async def main():\n"
        "    async with LLMRing() as ring:\n"
        "        await ring.chat(LLMRequest(model='chatbot',\n"
        "                                   messages=[{'role': 'user', 'content': 'hi'}]))\n"
        "asyncio.run(main())\nimport llmring.cli"
    )
    loaded = _modules_after(code)
    assert not [m for m in SDK_MODULES if m in loaded]


def test_seed_snippet_in_the_docs_is_the_one_tested() -> None:
    # docs/stream-contract.md shows the seed's snippet as a python block: it must be this text,
    # so the page never shows code that the next test does not run.
    page = (Path(__file__).resolve().parents[1] / "docs" / "stream-contract.md").read_text(
        encoding="utf-8"
    )
    blocks = re.findall(r"^```python\n(.*?)^```", page, re.MULTILINE | re.DOTALL)
    assert SEED_SNIPPET in blocks


def test_seed_snippet_runs_unchanged(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:counter?chunk_size=7"]})
    body = "\n".join("    " + line for line in SEED_SNIPPET.splitlines())
    script = f"import asyncio\nasync def main():\n{body}\nasyncio.run(main())\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=project, check=True
    )
    reply = (
        "Hello! This is mock:counter, llmring's offline mock model. It streams a fixed reply in "
        "small chunks, so you can try aliases, fallbacks and streaming code without an API key. "
        "Bind a real model with `llmring bind chatbot anthropic:claude-haiku-4-5` when you are "
        "ready."
    )
    # usage: "Count to 10" is 3 tokens; the reply is counted by the mock's word/punctuation rule
    completion = count_tokens(reply)
    assert result.stdout == f"{reply}{3 + completion}\n"
