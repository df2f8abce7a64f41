"""Bots built on ``LLMRing.chat_stream``: chat, retrieval, tool selection, structured output.

Every bot talks only to the facade (no provider SDK), accepts strings, message objects or
nested lists of them, streams with ``stream_async`` (non-empty text deltas), and updates its
memory only when a reply completes (a broken-off or failed stream leaves no half-turn). Sync
bots (``SimpleBot``, ``QueryBot``, ``ToolBot``, ``StructuredBot``) run the async path through
one runner and also work inside a running event loop. See docs/bots.md.
"""

from llmring.bots.docstore import BM25DocStore, DocStore
from llmring.bots.memory import ChatMemory
from llmring.bots.messages import (
    AIMessage,
    BaseMessage,
    DeveloperMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
    system,
    to_messages,
    user,
)
from llmring.bots.query import AsyncQueryBot, QueryBot
from llmring.bots.simple import AsyncSimpleBot, SimpleBot
from llmring.bots.structured import AsyncStructuredBot, StructuredBot, StructuredOutputError
from llmring.bots.tools import AsyncToolBot, Tool, ToolBot, tool

__all__ = [
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
]
