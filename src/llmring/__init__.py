"""llmring: a provider-agnostic LLM streaming gateway.

One async API over OpenAI, Anthropic, Google Gemini, Ollama (and an offline ``mock``), with
model choices in a lockfile (``llmring.lock``) instead of in code::

    from llmring import LLMRing, LLMRequest, Message

    async with LLMRing() as ring:
        request = LLMRequest(model="chatbot", messages=[Message(role="user", content="Hi")])
        async for chunk in ring.chat_stream(request):
            print(chunk.delta, end="", flush=True)

Names are imported on first use (PEP 562), so ``import llmring`` stays fast and never imports
a provider SDK.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmring.agents import Agent
    from llmring.bots import (
        AIMessage,
        AsyncQueryBot,
        AsyncSimpleBot,
        AsyncStructuredBot,
        AsyncToolBot,
        BM25DocStore,
        ChatMemory,
        DeveloperMessage,
        HumanMessage,
        QueryBot,
        SimpleBot,
        StructuredBot,
        SystemMessage,
        Tool,
        ToolBot,
        ToolCall,
        ToolMessage,
        system,
        tool,
        user,
    )
    from llmring.schemas import LLMRequest, LLMResponse, Message, StreamChunk
    from llmring.service import LLMRing
    from llmring.streaming import (
        ChatSession,
        StreamingManager,
        StreamingResponse,
        collect_stream,
        create_mock_stream,
        stream_to_string,
        stream_with_chunking,
        wait_for_all,
    )

#: the package's version, read by the build too ([tool.hatch.version] in pyproject.toml). 2.x:
#: this project succeeds the llmring 1.x line on PyPI with a new lockfile contract.
__version__ = "2.0.0a1"

# the facade (LLMRequest, LLMResponse, LLMRing, Message, StreamChunk), the bots (from
# llmring.bots), the agent (llmring.agents) and the everyday streaming tools (llmring.streaming)
__all__ = [
    "AIMessage",
    "Agent",
    "AsyncQueryBot",
    "AsyncSimpleBot",
    "AsyncStructuredBot",
    "AsyncToolBot",
    "BM25DocStore",
    "ChatMemory",
    "ChatSession",
    "DeveloperMessage",
    "HumanMessage",
    "LLMRequest",
    "LLMResponse",
    "LLMRing",
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
]

_STREAMING = (
    "ChatSession",
    "StreamingManager",
    "StreamingResponse",
    "collect_stream",
    "create_mock_stream",
    "stream_to_string",
    "stream_with_chunking",
    "wait_for_all",
)
_ELSEWHERE = {
    "LLMRing": "llmring.service",
    "LLMRequest": "llmring.schemas",
    "LLMResponse": "llmring.schemas",
    "Message": "llmring.schemas",
    "StreamChunk": "llmring.schemas",
    "Agent": "llmring.agents",
    **dict.fromkeys(_STREAMING, "llmring.streaming"),
}
#: where each public name lives; everything is imported on first use
_LAZY = {name: _ELSEWHERE.get(name, "llmring.bots") for name in __all__}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmring' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
