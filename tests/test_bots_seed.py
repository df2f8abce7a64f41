"""LlamaBot's own code against ``llmring.bots``: the module-level helpers of
``llmring.bots.simple``, ``compose_*``, ``stream_target`` on the async bots, message objects as
queries, and the split that keeps every bot setting out of a provider's request body (checked
on the body the real openai SDK sends to the loopback server, for every bot class).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from llmring import LLMRing, Message
from llmring.bots import (
    AIMessage,
    AsyncQueryBot,
    AsyncSimpleBot,
    AsyncStructuredBot,
    AsyncToolBot,
    ChatMemory,
    HumanMessage,
    QueryBot,
    SimpleBot,
    StructuredBot,
    SystemMessage,
    ToolBot,
)
from llmring.bots._runner import run_sync
from llmring.bots.query import query_prompt
from llmring.bots.simple import (
    completion_kwargs_for_messages,
    make_async_response,
    model_supports_token_streaming,
    stream_tokens_for_messages,
)
from llmring.providers.mock import ledger
from llmring.schemas import LLMResponse, StreamChunk
from tests.loopback import Reply
from tests.test_bots_structured import ADA, Person, sse
from tests.test_bots_tools import get_capital
from tests.wire_harness import provider_ring


class OneDocument:
    def retrieve(self, query: str, n_results: int = 10) -> list[str]:
        return ["Aliases choose the models."]


# -- the helpers ----------------------------------------------------------------------------------


def test_model_supports_token_streaming() -> None:
    assert model_supports_token_streaming("gpt-4o-mini") is True
    assert model_supports_token_streaming("o1-preview") is False
    assert model_supports_token_streaming("o1-mini") is False
    assert model_supports_token_streaming("openai:o1-mini") is False
    assert model_supports_token_streaming("chatbot") is True


def test_completion_kwargs_for_messages() -> None:
    bot = SimpleBot("system text", model_name="gpt-4o-mini")  # the seed's own test
    messages = [bot.system_prompt, HumanMessage(content="hi")]
    kwargs = completion_kwargs_for_messages(bot, messages, stream=True)
    assert kwargs["model"] == "gpt-4o-mini" and kwargs["stream"] is True
    assert [(m.role, m.text) for m in kwargs["messages"]] == [
        ("system", "system text"),
        ("user", "hi"),
    ]
    assert kwargs["temperature"] == 0.0 and "stream_target" not in str(kwargs)
    assert model_supports_token_streaming(bot.model_name)
    quiet = AsyncSimpleBot("s", mock_response="ok", max_tokens=5, top_p=0.5, stream_target="none")
    assert completion_kwargs_for_messages(quiet, ["hi"], stream=False) == {
        "model": "mock:bot",
        "messages": [Message(role="user", content="hi")],
        "temperature": 0.0,
        "max_tokens": 5,
        "extra_params": {"top_p": 0.5, "mock_response": "ok"},
        "stream": False,
    }
    tools = completion_kwargs_for_messages(AsyncToolBot("s", "mock:x", tools=[get_capital]), ["hi"])
    assert [t["function"]["name"] for t in tools["tools"]] == ["get_capital"]


async def test_make_async_response_streams_or_assembles() -> None:
    bot = AsyncSimpleBot("s", model_name="mock:echo", memory=ChatMemory())
    stream = await make_async_response(bot, ["one two"])
    assert not isinstance(stream, LLMResponse)
    async with stream:
        chunks: list[StreamChunk] = [chunk async for chunk in stream]
    assert "".join(c.delta for c in chunks) == "one two" and chunks[-1].is_terminal
    whole = await make_async_response(bot, [HumanMessage(content="three")], stream=False)
    assert isinstance(whole, LLMResponse) and whole.content == "three"
    assert bot.memory is not None and len(bot.memory) == 0  # helpers never touch memory


async def test_stream_tokens_for_messages_then_finalize() -> None:
    memory = ChatMemory()
    bot = AsyncSimpleBot("Be brief.", model_name="mock:echo", memory=memory)
    finals: list[AIMessage] = []
    conversation, _ = bot.compose_messages_for_human_messages("a b c")
    deltas = [d async for d in stream_tokens_for_messages(bot, conversation, finals.append)]
    assert deltas == ["a", " b", " c"]
    assert [(f.content, f.finish_reason) for f in finals] == [("a b c", "stop")]
    assert len(memory) == 0
    sent = ledger.last.request
    assert sent is not None and [m.role for m in sent.messages] == ["system", "user"]
    whole = AsyncSimpleBot(model_name="mock:o1-mini", extra_params={"mock_response": "x y z"})
    assert [d async for d in stream_tokens_for_messages(whole, ["hi"])] == ["x y z"]


async def test_compose_messages_for_human_messages() -> None:
    memory = ChatMemory()
    bot = AsyncSimpleBot("Be brief.", model_name="mock:echo", memory=memory, stream_target="none")
    await bot("first")
    messages, processed = bot.compose_messages_for_human_messages("second", ["third"])
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Be brief."),
        ("user", "first"),
        ("assistant", "first"),
        ("user", "second"),
        ("user", "third"),
    ]
    assert processed == [HumanMessage(content="second"), HumanMessage(content="third")]
    assert SimpleBot("Be brief.").compose_messages_for_human_messages("x")[0] == [
        SystemMessage(content="Be brief."),
        HumanMessage(content="x"),
    ]


async def test_compose_rag_messages_feed_the_helpers() -> None:
    bot = AsyncQueryBot("Answer from the documents.", OneDocument(), model_name="mock:echo")
    messages, processed = bot.compose_rag_messages("Which model?", 5)
    prompt = query_prompt("Which model?", ["Aliases choose the models."])
    assert [(m.role, m.content) for m in processed] == [
        ("system", "Answer from the documents."),
        ("user", prompt),
    ]
    assert messages == processed and messages is not processed
    assert bot.last_documents == ["Aliases choose the models."]
    assert "".join([d async for d in stream_tokens_for_messages(bot, processed)]) == prompt
    sync = QueryBot("S", OneDocument(), model_name="mock:echo")
    assert sync.compose_rag_messages(HumanMessage(content="q"))[1][-1].content.endswith("Query: q")


# -- stream_target on the async bots --------------------------------------------------------------

ASYNC_BOTS: dict[str, Callable[..., Any]] = {
    "AsyncSimpleBot": lambda **kw: AsyncSimpleBot("S", **kw),
    "AsyncQueryBot": lambda **kw: AsyncQueryBot("S", OneDocument(), **kw),
    "AsyncToolBot": lambda **kw: AsyncToolBot("S", tools=[get_capital], **kw),
    "AsyncStructuredBot": lambda **kw: AsyncStructuredBot("S", Person, **kw),
}


@pytest.mark.parametrize("name", ASYNC_BOTS)
async def test_await_bot_prints_by_default_and_stream_target_silences_it(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make = ASYNC_BOTS[name]
    await make(mock_response=ADA)("hi")
    assert capsys.readouterr().out == ADA + "\n"
    quiet = make(mock_response=ADA, stream_target="none")
    await quiet("hi")
    assert "".join([d async for d in quiet.stream_async("hi")]) == ADA
    assert capsys.readouterr().out == ""
    request = ledger.last.request
    assert request is not None and set(request.extra_params) == {"mock_response"}
    with pytest.raises(ValueError, match="stream_target must be one of"):
        make(stream_target="web")


def test_sync_tool_and_structured_bots_print_through_their_async_bot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert StructuredBot("S", Person, mock_response=ADA)("hi") == Person(name="Ada", age=36)
    assert ToolBot("S", tools=[get_capital], mock_response="No tool.")("hi") == []
    assert capsys.readouterr().out == ADA + "\n" + "No tool.\n"
    quiet = ToolBot("S", tools=[get_capital], mock_response="No tool.", stream_target="none")
    assert quiet("hi") == [] and capsys.readouterr().out == ""
    assert quiet.stream_target == "none" and repr(quiet).endswith("stream_target='none'>")
    quiet.stream_target = "stdout"
    assert quiet.bot.stream_target == "stdout"


async def test_a_retried_structured_reply_prints_each_attempt_on_its_own_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    replies = iter(['{"name": "Ada"}', ADA])

    class Twice(AsyncStructuredBot[Person]):
        def request(self, conversation: Any, **overrides: Any) -> Any:
            return super().request(
                conversation, extra_params={"mock_response": next(replies)}, **overrides
            )

    assert await Twice("S", Person, model_name="mock:x")("hi") == Person(name="Ada", age=36)
    assert capsys.readouterr().out == '{"name": "Ada"}\n' + ADA + "\n"


# -- message objects as queries -------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        HumanMessage(content="Which model?"),
        Message(role="user", content="Which model?"),
        {"role": "user", "content": "Which model?"},
        "Which model?",
    ],
    ids=["HumanMessage", "Message", "dict", "str"],
)
async def test_a_query_may_be_a_message_object(query: Any) -> None:
    memory = ChatMemory()
    bot = AsyncQueryBot(
        "S", OneDocument(), memory=memory, model_name="mock:echo", stream_target="none"
    )
    prompt = query_prompt("Which model?", ["Aliases choose the models."])
    assert "".join([d async for d in bot.stream_async(query)]) == prompt
    assert (await bot(query)).content == prompt
    assert [m.content for m in memory.messages][:1] == ["Which model?"]
    sync = QueryBot("S", OneDocument(), model_name="mock:echo", stream_target="none")
    assert sync(query).content == prompt
    assert "".join(sync.stream(query)) == prompt


async def test_a_query_is_one_message() -> None:
    bot = AsyncQueryBot("S", OneDocument(), model_name="mock:echo", stream_target="none")
    with pytest.raises(TypeError, match="a query is one string or message, not 2 messages"):
        await bot([HumanMessage(content="a"), HumanMessage(content="b")])  # type: ignore[arg-type]


async def test_the_seeds_async_tests() -> None:
    docstore = MagicMock()
    docstore.retrieve.return_value = set()
    query_bot = AsyncQueryBot(
        system_prompt="You answer from docs.",
        docstore=docstore,
        model_name="gpt-4o-mini",
        mock_response="rag answer",
        stream_target="none",
    )
    assert "".join([d async for d in query_bot.stream_async("what is up")]) == "rag answer"
    docstore.retrieve.assert_called()
    structured = AsyncStructuredBot(
        system_prompt="Return JSON matching the schema.",
        pydantic_model=Person,
        model_name="gpt-4o-mini",
        mock_response=ADA,
        stream_target="none",
    )
    assert "".join([d async for d in structured.stream_async("give me data")]) == ADA


# -- no bot setting reaches a provider ------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "complaint"),
    [
        ("stram_target", "unexpected keyword argument 'stram_target'"),
        ("json_mode", r"extra_params=\{'json_mode': ...\}"),
        ("api_key", "takes no api_key: llmring reads API keys from the environment"),
    ],
)
def test_an_unknown_keyword_is_refused_naming_it(keyword: str, complaint: str) -> None:
    makers: tuple[Callable[..., object], ...] = (
        *ASYNC_BOTS.values(),
        lambda **kw: SimpleBot("S", **kw),
        lambda **kw: QueryBot("S", OneDocument(), **kw),
        lambda **kw: ToolBot("S", tools=[get_capital], **kw),
        lambda **kw: StructuredBot("S", Person, **kw),
    )
    for make in makers:
        with pytest.raises(TypeError, match=complaint) as caught:
            make(**{keyword: "sk-secret-0123456789"})
        assert "sk-secret" not in str(caught.value)


async def test_per_call_keywords_are_split_the_same_way() -> None:
    bot = AsyncSimpleBot(model_name="mock:echo", stream_target="none")
    await bot("hi", top_p=0.3, max_tokens=4, extra_params={"logit_bias": {"1": 2}})
    request = ledger.last.request
    assert request is not None and request.max_tokens == 4
    assert request.extra_params == {"logit_bias": {"1": 2}, "top_p": 0.3}
    with pytest.raises(
        TypeError, match="AsyncSimpleBot got an unexpected keyword argument 'n_result'"
    ):
        await bot("hi", n_result=3)


BASE_BODY = {"model", "messages", "stream", "stream_options", "temperature", "top_p"}
EVERY_BOT: list[tuple[str, Callable[..., Any], set[str]]] = [
    ("AsyncSimpleBot", lambda **kw: AsyncSimpleBot("S", **kw), set()),
    ("AsyncQueryBot", lambda **kw: AsyncQueryBot("S", OneDocument(), **kw), set()),
    ("AsyncToolBot", lambda **kw: AsyncToolBot("S", tools=[get_capital], **kw), {"tools"}),
    ("AsyncStructuredBot", lambda **kw: AsyncStructuredBot("S", Person, **kw), {"response_format"}),
    ("SimpleBot", lambda **kw: SimpleBot("S", **kw), set()),
    ("QueryBot", lambda **kw: QueryBot("S", OneDocument(), **kw), set()),
    ("ToolBot", lambda **kw: ToolBot("S", tools=[get_capital], **kw), {"tools"}),
    ("StructuredBot", lambda **kw: StructuredBot("S", Person, **kw), {"response_format"}),
]


@pytest.mark.parametrize(("name", "make", "own"), EVERY_BOT, ids=[b[0] for b in EVERY_BOT])
@pytest.mark.parametrize("stream_target", ["none", "stdout"])
async def test_the_request_body_holds_no_bot_setting(
    name: str,
    make: Callable[..., Any],
    own: set[str],
    stream_target: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every bot, with its settings and one generation parameter, through the real openai SDK
    settings = {
        "model_name": "openai:gpt-test",
        "stream_target": stream_target,
        "memory": ChatMemory(),
        "top_p": 0.5,
    }
    reply = Reply(body=sse([ADA]))
    async with provider_ring("openai", reply, project, monkeypatch) as (ring, server):
        if name.startswith("Async"):
            await make(ring=ring, **settings)("hi")
        else:  # a sync bot runs on the runner's loop: its own ring, closed there
            own_ring = LLMRing(project / "llmring.lock")
            await asyncio.to_thread(make(ring=own_ring, **settings), "hi")
            run_sync(own_ring.aclose())
    [request] = server.requests
    assert set(request.json()) == BASE_BODY | own
    assert b"stream_target" not in request.body and b"memory" not in request.body
