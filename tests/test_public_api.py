"""The public surface: every public module's exports, pinned; what `import llmring` offers, and
what it must not import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import import_module
from pathlib import Path
from types import FunctionType

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


# Every public module (no ``_`` in its dotted name) and its ``__all__``, exactly: adding or
# removing a public name is a decision made here, in review (httpx pins its exports the same way).
EXPORTS: dict[str, list[str]] = {
    "llmring": [
        "AIMessage",
        "Agent",
        "AsyncQueryBot",
        "AsyncSimpleBot",
        "AsyncStructuredBot",
        "AsyncToolBot",
        "BM25DocStore",
        "ChatMemory",
        "ChatSession",
        "ChatStream",
        "DeveloperMessage",
        "HumanMessage",
        "LLMRequest",
        "LLMResponse",
        "LLMRing",
        "LLMRingError",
        "Message",
        "QueryBot",
        "SimpleBot",
        "StreamChunk",
        "StreamingManager",
        "StreamingResponse",
        "StructuredBot",
        "SystemMessage",
        "Tool",
        "ToolBot",
        "ToolCall",
        "ToolMessage",
        "collect_stream",
        "create_mock_stream",
        "stream_to_string",
        "stream_with_chunking",
        "system",
        "tool",
        "user",
        "wait_for_all",
    ],
    "llmring.agents": [
        "Agent",
        "AgentError",
        "AgentResult",
        "AgentStream",
        "ToolOutcome",
        "ToolRoundLimitError",
    ],
    "llmring.bots": [
        "AIMessage",
        "AsyncQueryBot",
        "AsyncSimpleBot",
        "AsyncStructuredBot",
        "AsyncToolBot",
        "BM25DocStore",
        "BaseMessage",
        "ChatMemory",
        "DeveloperMessage",
        "DocStore",
        "HumanMessage",
        "QueryBot",
        "SimpleBot",
        "StructuredBot",
        "StructuredOutputError",
        "SystemMessage",
        "Tool",
        "ToolBot",
        "ToolCall",
        "ToolMessage",
        "system",
        "to_messages",
        "tool",
        "user",
    ],
    "llmring.bots.docstore": [
        "BM25DocStore",
        "DocStore",
    ],
    "llmring.bots.memory": ["ChatMemory"],
    "llmring.bots.messages": [
        "AIMessage",
        "BaseMessage",
        "DeveloperMessage",
        "HumanMessage",
        "SystemMessage",
        "ToolCall",
        "ToolMessage",
        "system",
        "to_messages",
        "user",
    ],
    "llmring.bots.query": [
        "AsyncQueryBot",
        "QueryBot",
        "query_prompt",
        "query_text",
    ],
    "llmring.bots.simple": [
        "AsyncSimpleBot",
        "SimpleBot",
        "StreamTarget",
        "completion_kwargs_for_messages",
        "make_async_response",
        "model_supports_token_streaming",
        "stream_tokens_for_messages",
    ],
    "llmring.bots.structured": [
        "AsyncStructuredBot",
        "StructuredBot",
        "StructuredOutputError",
    ],
    "llmring.bots.tools": [
        "AsyncToolBot",
        "Tool",
        "ToolBot",
        "ToolSpec",
        "tool",
        "tool_schema",
    ],
    "llmring.cli": [
        "app",
        "main",
    ],
    "llmring.exceptions": [
        "AliasNotFoundError",
        "ConfigurationError",
        "LLMRingError",
        "LockfileError",
        "LockfileNotFoundError",
        "LockfileParseError",
        "ModelNotFoundError",
        "ProfileNotFoundError",
        "ProviderAuthenticationError",
        "ProviderConnectionError",
        "ProviderError",
        "ProviderNotFoundError",
        "ProviderRateLimitError",
        "ProviderResponseError",
        "ProviderTimeoutError",
        "ProviderUnavailableError",
        "StreamBusyError",
        "StreamInterruptedError",
    ],
    "llmring.lockfile": [
        "Binding",
        "Lockfile",
        "ModelRef",
        "Price",
        "Profile",
        "ProviderEntry",
        "bind_alias",
        "edit_lockfile",
        "find_lockfile",
        "load_lockfile",
        "remove_binding",
        "rewrite_lockfile",
        "set_binding",
        "write_target",
    ],
    "llmring.prices": [
        "Prices",
        "TableModel",
        "installed",
        "table_missing",
        "table_models",
    ],
    "llmring.providers": [],
    "llmring.providers.anthropic": ["SPEC"],
    "llmring.providers.base": [
        "Finish",
        "FrameError",
        "KEYLESS",
        "ModelReport",
        "ProviderAdapter",
        "ProviderConfig",
        "ReasoningDelta",
        "StreamEnd",
        "StreamEvent",
        "TextDelta",
        "ToolCallFragment",
        "Translator",
        "TranslatorBase",
        "UsageReport",
        "add_counts",
    ],
    "llmring.providers.google": ["SPEC"],
    "llmring.providers.mock": [
        "MockAdapter",
        "MockLedger",
        "MockOptions",
        "MockStreamRecord",
        "SPEC",
        "count_tokens",
        "ledger",
    ],
    "llmring.providers.ollama": ["SPEC"],
    "llmring.providers.openai": ["SPEC"],
    "llmring.providers.openai_responses": ["SPEC"],
    "llmring.resolver": [
        "Candidate",
        "Resolver",
    ],
    "llmring.schemas": [
        "FinishReason",
        "LLMRequest",
        "LLMResponse",
        "MAX_STOP_SEQUENCES",
        "Message",
        "Role",
        "StreamChunk",
        "StreamTimeouts",
        "ToolCallDelta",
        "ToolCallDict",
        "ToolCallFunction",
        "Usage",
    ],
    "llmring.service": [
        "LLMRing",
        "ModelCapabilities",
        "ProviderStatus",
    ],
    "llmring.serve": [],
    "llmring.sse": [
        "INTERNAL_ERROR",
        "StreamingBot",
        "openai_finish_reason",
        "openai_frames",
        "openai_usage",
        "public_error",
        "sse_stream",
    ],
    "llmring.streaming": [
        "Backend",
        "ChatSession",
        "ChunkEvent",
        "ChunkedStream",
        "Chunker",
        "CompletedEvent",
        "Context",
        "ErrorEvent",
        "Forbidden",
        "FullValidationEvent",
        "GenerationClosedError",
        "GenerationErrors",
        "GenerationThunk",
        "ManagedStream",
        "MaxLength",
        "ParagraphChunker",
        "PartialValidationResult",
        "QuickCheckEvent",
        "Requirement",
        "SentenceChunker",
        "SessionBusyError",
        "StreamingDoneEvent",
        "StreamingEvent",
        "StreamingManager",
        "StreamingResponse",
        "ValidationResult",
        "WordChunker",
        "collect_stream",
        "create_mock_stream",
        "generate",
        "get_chunker",
        "stream_to_string",
        "stream_with_chunking",
        "wait_for_all",
    ],
}
#: the packages whose names load on first use (llmring/_lazy.py)
LAZY = ("llmring", "llmring.streaming", "llmring.providers.mock")


def _public_modules() -> set[str]:
    package = Path(llmring.__file__).parent
    found = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if not any(part.startswith("_") for part in parts):
            found.add(".".join(parts))
    return found


def test_every_public_module_has_its_exports_pinned() -> None:
    assert _public_modules() == set(EXPORTS)


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_all_is_exactly_the_pinned_list_and_every_name_resolves(name: str) -> None:
    module = import_module(name)
    assert sorted(module.__all__) == EXPORTS[name]
    assert len(set(module.__all__)) == len(module.__all__)
    star: dict[str, object] = {}
    exec(f"from {name} import *", star)  # noqa: S102 (a constant statement: star import)
    assert set(star) - {"__builtins__"} == set(EXPORTS[name])
    for export in EXPORTS[name]:
        value = getattr(module, export)
        if isinstance(value, type | FunctionType):
            assert value.__name__ == export
    assert set(EXPORTS[name]) <= set(dir(module))


def test_lazy_packages_list_their_names_before_loading_any() -> None:
    # a fresh interpreter: dir() and __all__ come from the package's own source, import nothing
    script = (
        "import json, sys\nfrom importlib import import_module\n"
        f"names = {{m: [dir(import_module(m)), import_module(m).__all__] for m in {LAZY!r}}}\n"
        "print(json.dumps([names, sorted(sys.modules)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    names, loaded = json.loads(result.stdout)
    for module in LAZY:
        listed, exported = names[module]
        assert sorted(exported) == EXPORTS[module]
        assert set(exported) <= set(listed)
    assert not [m for m in loaded if m.startswith(("llmring.service", "llmring.streaming._"))]
    assert "pydantic" not in loaded


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        llmring.Nope  # type: ignore[attr-defined]  # noqa: B018


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
    assert "genai_prices" not in loaded and "llmring.prices" not in loaded


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
    # a mock call has nothing to look up in the price table: it is never loaded
    assert "llmring.prices" in loaded and "genai_prices" not in loaded


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
