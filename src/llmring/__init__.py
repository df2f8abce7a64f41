"""llmring: a provider-agnostic LLM streaming gateway.

One async API over OpenAI, Anthropic, Google Gemini, Ollama (and an offline ``mock``), with
model choices in a lockfile (``llmring.lock``) instead of in code::

    from llmring import LLMRing, LLMRequest, Message

    async with LLMRing() as ring:
        request = LLMRequest(model="chatbot", messages=[Message(role="user", content="Hi")])
        async for chunk in ring.chat_stream(request):
            print(chunk.delta, end="", flush=True)

The names here are what an application uses every day: the facade (``LLMRing``, the request
and response types, the ``ChatStream`` it returns), the root of the error tree
(``LLMRingError``; the specific errors are in ``llmring.exceptions``), the bots, the agent and
the everyday streaming tools. Everything else lives in its own public module
(``llmring.lockfile``, ``llmring.sse``, ``llmring.streaming``...). Names are imported on first
use (PEP 562), so ``import llmring`` stays fast and never imports a provider SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmring import _lazy

# the public names, each once (llmring/_lazy.py reads this block)
if TYPE_CHECKING:
    from llmring._stream import ChatStream as ChatStream
    from llmring.agents import Agent as Agent
    from llmring.bots import AIMessage as AIMessage
    from llmring.bots import AsyncQueryBot as AsyncQueryBot
    from llmring.bots import AsyncSimpleBot as AsyncSimpleBot
    from llmring.bots import AsyncStructuredBot as AsyncStructuredBot
    from llmring.bots import AsyncToolBot as AsyncToolBot
    from llmring.bots import BM25DocStore as BM25DocStore
    from llmring.bots import ChatMemory as ChatMemory
    from llmring.bots import DeveloperMessage as DeveloperMessage
    from llmring.bots import HumanMessage as HumanMessage
    from llmring.bots import QueryBot as QueryBot
    from llmring.bots import SimpleBot as SimpleBot
    from llmring.bots import StructuredBot as StructuredBot
    from llmring.bots import SystemMessage as SystemMessage
    from llmring.bots import Tool as Tool
    from llmring.bots import ToolBot as ToolBot
    from llmring.bots import ToolCall as ToolCall
    from llmring.bots import ToolMessage as ToolMessage
    from llmring.bots import system as system
    from llmring.bots import tool as tool
    from llmring.bots import user as user
    from llmring.exceptions import LLMRingError as LLMRingError
    from llmring.schemas import LLMRequest as LLMRequest
    from llmring.schemas import LLMResponse as LLMResponse
    from llmring.schemas import Message as Message
    from llmring.schemas import StreamChunk as StreamChunk
    from llmring.service import LLMRing as LLMRing
    from llmring.streaming import ChatSession as ChatSession
    from llmring.streaming import StreamingManager as StreamingManager
    from llmring.streaming import StreamingResponse as StreamingResponse
    from llmring.streaming import collect_stream as collect_stream
    from llmring.streaming import create_mock_stream as create_mock_stream
    from llmring.streaming import stream_to_string as stream_to_string
    from llmring.streaming import stream_with_chunking as stream_with_chunking
    from llmring.streaming import wait_for_all as wait_for_all

#: the package's version, read by the build too ([tool.hatch.version] in pyproject.toml). 2.x:
#: this project succeeds the llmring 1.x line on PyPI with a new lockfile contract.
__version__ = "2.0.0a1"

_lazy.install(__name__)
