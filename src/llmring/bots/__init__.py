"""Bots built on ``LLMRing.chat_stream``: simple chat, retrieval, tool selection, structured output.

Every bot talks only to the facade (no provider SDK), accepts strings, message objects or
nested lists of them, streams with ``stream_async`` (non-empty text deltas), and updates its
memory only when a reply completes. Sync bots (``SimpleBot``...) run the async path through
one runner and also work inside a running event loop.
"""

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
from llmring.bots.simple import AsyncSimpleBot, SimpleBot

__all__ = [
    "AIMessage",
    "AsyncSimpleBot",
    "BaseMessage",
    "ChatMemory",
    "DeveloperMessage",
    "HumanMessage",
    "SimpleBot",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
    "system",
    "to_messages",
    "user",
]
