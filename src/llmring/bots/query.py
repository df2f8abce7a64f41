"""``AsyncQueryBot`` and ``QueryBot``: answer a query from the documents a store retrieves.

The documents go into the user turn, not the system prompt: they are data (possibly written
by anyone), and instructions belong to the system prompt. They are de-duplicated keeping the
first, best-ranked copy, so the prompt lists them in the store's rank order (a set would
scramble it). Memory keeps the bare query and the reply, not the documents, so a
conversation does not grow by a retrieval per turn.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from typing import Any

from llmring.bots._core import BotCore
from llmring.bots._runner import iterate_sync
from llmring.bots._sync import SyncBot
from llmring.bots._targets import StreamTarget, deliver, printed
from llmring.bots.docstore import DocStore
from llmring.bots.memory import ChatMemory
from llmring.bots.messages import AIMessage, BaseMessage, HumanMessage, to_messages
from llmring.schemas import Message, StreamChunk

__all__ = ["AsyncQueryBot", "QueryBot", "query_prompt", "query_text"]

#: a query: text, or one message holding it
Query = str | BaseMessage | Message | dict[str, Any]
Composed = tuple[list[BaseMessage], list[BaseMessage]]


def query_text(query: Query) -> str:
    """The text of a query given as a string or as one message (``HumanMessage``, llmring's
    ``Message``, a ``{"role", "content"}`` dict)."""
    if isinstance(query, str):
        return query
    messages = to_messages(query)
    if len(messages) != 1:
        raise TypeError(f"a query is one string or message, not {len(messages)} messages")
    return messages[0].content


def query_prompt(query: str, documents: list[str]) -> str:
    """The user turn: the documents, most relevant first, then the query (alone if none)."""
    if not documents:
        return query
    blocks = [
        f'<document rank="{rank}">\n{text}\n</document>'
        for rank, text in enumerate(documents, start=1)
    ]
    return "\n\n".join(["Documents, most relevant first:", *blocks, f"Query: {query}"])


class AsyncQueryBot(BotCore):
    """Retrieval-augmented answers: ``docstore.retrieve(query, n_results)``, then the model.

    ``await bot(query)`` returns the reply as an :class:`AIMessage` (printing it as it
    arrives unless ``stream_target`` is not ``"stdout"``);
    ``async for delta in bot.stream_async(query)`` yields its non-empty text deltas. A query is
    a string or one message object. ``last_documents`` holds the documents the latest query
    put in the prompt, in rank order; ``last_message`` the latest completed reply. Memory is
    updated only when a reply completes.
    """

    last_message: AIMessage | None = None

    def __init__(
        self,
        system_prompt: str,
        docstore: DocStore,
        memory: ChatMemory | None = None,
        model_name: str | None = None,
        temperature: float | None = 0.0,
        **completion_kwargs: Any,
    ) -> None:
        super().__init__(system_prompt, model_name, temperature, memory, **completion_kwargs)
        self.docstore = docstore
        self.last_documents: list[str] = []

    def _keep(self, reply: AIMessage) -> None:
        self.last_message = reply

    def compose_rag_messages(
        self, query: Query, n_results: int = 20, outer_span: object = None
    ) -> Composed:
        """Retrieve for ``query`` and build the conversation to send: the system prompt, what
        memory recalls, and the user turn holding the documents and the query.

        Returns ``(messages, processed_messages)`` as LlamaBot does: both are that
        conversation (``processed_messages`` a copy, to pass on or extend). ``outer_span`` is
        accepted for LlamaBot's signature and not used. Sets ``last_documents``.
        """
        text = query_text(query)
        # dict.fromkeys keeps the first occurrence of each document, hence the rank order
        documents = list(dict.fromkeys(self.docstore.retrieve(text, n_results)))
        self.last_documents = documents
        messages = self.history([HumanMessage(content=query_prompt(text, documents))], text)
        return messages, list(messages)

    def _chunks(
        self,
        query: Query,
        n_results: int,
        on_complete: Callable[[AIMessage], None],
        options: dict[str, Any],
    ) -> AsyncGenerator[StreamChunk, None]:
        text = query_text(query)
        conversation, _ = self.compose_rag_messages(text, n_results)
        return self.chunks(
            [HumanMessage(content=text)],
            on_complete,
            query=text,
            conversation=conversation,
            **options,
        )

    async def stream_async(
        self, query: Query, n_results: int = 20, **request_options: Any
    ) -> AsyncGenerator[str, None]:
        """The reply's text as it arrives: non-empty deltas only."""
        chunks = self._chunks(query, n_results, self._keep, request_options)
        async with aclosing(chunks):
            async for chunk in chunks:
                if chunk.delta:
                    yield chunk.delta

    async def complete(
        self,
        query: Query,
        n_results: int = 20,
        on_delta: Callable[[str], None] | None = None,
        **request_options: Any,
    ) -> AIMessage:
        """The whole reply; ``on_delta`` sees each text delta as it arrives."""
        replies: list[AIMessage] = []

        def keep(reply: AIMessage) -> None:
            replies.append(reply)
            self._keep(reply)

        chunks = self._chunks(query, n_results, keep, request_options)
        async with aclosing(chunks):
            async for chunk in chunks:
                if chunk.delta and on_delta is not None:
                    on_delta(chunk.delta)
        return replies[0]

    async def __call__(
        self, query: Query, n_results: int = 20, **request_options: Any
    ) -> AIMessage:
        return await printed(
            self.stream_target,
            lambda on_delta: self.complete(query, n_results, on_delta, **request_options),
        )


class QueryBot(SyncBot):
    """The blocking twin of :class:`AsyncQueryBot`, running its async path (one runner).

    ``stream_target`` works as in :class:`~llmring.bots.SimpleBot`: ``"stdout"`` prints the
    deltas and returns the :class:`AIMessage`, ``"none"`` returns it silently, ``"api"``
    returns a generator of deltas, ``"panel"`` a generator of the text so far.
    """

    bot: AsyncQueryBot

    def __init__(
        self,
        system_prompt: str,
        docstore: DocStore,
        memory: ChatMemory | None = None,
        model_name: str | None = None,
        temperature: float | None = 0.0,
        stream_target: StreamTarget = "stdout",
        **completion_kwargs: Any,
    ) -> None:
        self.bot = AsyncQueryBot(
            system_prompt,
            docstore,
            memory,
            model_name,
            temperature,
            stream_target=stream_target,
            **completion_kwargs,
        )

    @property
    def last_documents(self) -> list[str]:
        return self.bot.last_documents

    def compose_rag_messages(
        self, query: Query, n_results: int = 20, outer_span: object = None
    ) -> Composed:
        """See :meth:`AsyncQueryBot.compose_rag_messages`."""
        return self.bot.compose_rag_messages(query, n_results, outer_span)

    def __call__(self, query: Query, n_results: int = 20, **request_options: Any) -> Any:
        return deliver(
            self.stream_target,
            lambda: self.bot.stream_async(query, n_results, **request_options),
            lambda on_delta: self.bot.complete(
                query, n_results, on_delta=on_delta, **request_options
            ),
        )

    def stream(self, query: Query, n_results: int = 20, **request_options: Any) -> Iterator[str]:
        """Text deltas as a blocking iterator, whatever ``stream_target`` is."""
        return iterate_sync(lambda: self.bot.stream_async(query, n_results, **request_options))
