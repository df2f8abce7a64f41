"""BM25DocStore, AsyncQueryBot and QueryBot, offline (mock provider and a recorded wire stream)."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import aclosing
from pathlib import Path

import pytest

from llmring._install import install_hint
from llmring.bots import (
    AsyncQueryBot,
    BM25DocStore,
    ChatMemory,
    DocStore,
    QueryBot,
)
from llmring.bots.query import query_prompt
from llmring.exceptions import StreamInterruptedError
from llmring.providers.mock import ledger
from tests.loopback import Reply
from tests.wire_harness import provider_ring

# rank for "capital city": the doc saying "capital" twice in few words wins; insertion order
# and alphabetical order both differ from the rank order
DOCS = [
    "Bananas are yellow and grow in bunches.",
    "Paris is the capital of France, a city on the Seine.",
    "London, capital city: the capital of the UK.",
    "Berlin is a city in Germany.",
]
RANKED = [DOCS[2], DOCS[1], DOCS[3]]


class FixedStore:
    """A store whose ranking the test chooses, duplicates included; it records each call."""

    def __init__(self, ranked: list[str]) -> None:
        self.ranked = ranked
        self.calls: list[tuple[str, int]] = []

    def retrieve(self, query: str, n_results: int = 10) -> list[str]:
        self.calls.append((query, n_results))
        return self.ranked[:n_results]


def sent_texts() -> list[tuple[str, str]]:
    request = ledger.last.request
    assert request is not None
    return [(m.role, m.text) for m in request.messages]


# -- BM25DocStore ---------------------------------------------------------------------------------


def test_bm25_ranks_by_relevance_and_leaves_out_non_matching_documents() -> None:
    store = BM25DocStore(DOCS)
    assert store.retrieve("capital city") == RANKED
    assert store.retrieve("capital city", n_results=2) == RANKED[:2]
    assert store.retrieve("capital city", n_results=0) == []
    assert store.retrieve("zebra") == []
    assert store.retrieve("the of is") == []  # only stopwords: nothing to match
    assert len(store) == 4 and isinstance(store, DocStore)


def test_equal_scores_keep_insertion_order() -> None:
    store = BM25DocStore(["blue fish swim", "red fish swim", "green fish swim", "no match here"])
    assert store.retrieve("fish") == ["blue fish swim", "red fish swim", "green fish swim"]


def test_append_extend_and_reset_reindex() -> None:
    store = BM25DocStore()
    assert store.retrieve("capital") == []
    store.append(DOCS[1])
    assert store.retrieve("capital") == [DOCS[1]]
    store.extend([DOCS[2], DOCS[0]])
    assert store.retrieve("capital") == [DOCS[2], DOCS[1]]
    store.reset()
    assert store.retrieve("capital") == [] and store.documents == []


def test_stopword_options_and_stopword_only_corpus() -> None:
    assert BM25DocStore(["the of", "is a"]).retrieve("the") == []
    assert BM25DocStore(["the of", "is a"], stopwords=None).retrieve("the") == ["the of"]


def test_documents_must_be_strings() -> None:
    with pytest.raises(TypeError, match="documents are strings, not int"):
        BM25DocStore(["ok", 3])  # type: ignore[list-item]


def test_missing_bm25s_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bm25s", None)  # what an absent package looks like
    with pytest.raises(
        ImportError, match="BM25DocStore needs the bm25s package: " + re.escape(install_hint("rag"))
    ):
        BM25DocStore()


def test_importing_the_bots_does_not_import_bm25s_or_numpy() -> None:
    script = "import llmring.bots, sys; print('bm25s' in sys.modules, 'numpy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


# -- AsyncQueryBot ---------------------------------------------------------------------------------


def test_query_prompt_layout() -> None:
    assert query_prompt("Why?", []) == "Why?"
    assert query_prompt("Why?", ["first", "second"]) == (
        'Documents, most relevant first:\n\n<document rank="1">\nfirst\n</document>\n\n'
        '<document rank="2">\nsecond\n</document>\n\nQuery: Why?'
    )


async def test_documents_reach_the_prompt_deduplicated_in_rank_order() -> None:
    # a set would lose this order; dict.fromkeys keeps the first (best-ranked) copy
    store = FixedStore(["zeta", "alpha", "zeta", "mu", "alpha", "beta"])
    bot = AsyncQueryBot("Answer from the documents.", store, model_name="mock:echo")
    reply = await bot("Which letters?")
    prompt = query_prompt("Which letters?", ["zeta", "alpha", "mu", "beta"])
    assert sent_texts() == [("system", "Answer from the documents."), ("user", prompt)]
    assert reply.content == prompt  # mock:echo answers with the user turn it got
    assert bot.last_documents == ["zeta", "alpha", "mu", "beta"]
    assert store.calls == [("Which letters?", 20)]
    await bot("Fewer?", n_results=3)
    assert store.calls[-1] == ("Fewer?", 3) and bot.last_documents == ["zeta", "alpha"]


async def test_bm25_store_through_the_bot_keeps_rank_order() -> None:
    bot = AsyncQueryBot("", BM25DocStore(DOCS), model_name="mock:echo")
    deltas = [d async for d in bot.stream_async("capital city")]
    assert sent_texts() == [("user", query_prompt("capital city", RANKED))]
    assert "".join(deltas) == query_prompt("capital city", RANKED) and all(deltas)
    assert bot.last_message is not None and bot.last_message.content == "".join(deltas)


async def test_no_documents_sends_the_bare_query() -> None:
    bot = AsyncQueryBot("S", FixedStore([]), mock_response="I don't know.")
    assert (await bot("Anything?")).content == "I don't know."
    assert sent_texts() == [("system", "S"), ("user", "Anything?")]


async def test_memory_keeps_the_bare_query_and_the_reply() -> None:
    memory = ChatMemory()
    bot = AsyncQueryBot("S", FixedStore(["doc one"]), memory=memory, model_name="mock:echo")
    first = await bot("q1")
    assert [(m.role, m.content) for m in memory.messages] == [
        ("user", "q1"),
        ("assistant", first.content),
    ]
    await bot("q2")
    assert sent_texts() == [
        ("system", "S"),
        ("user", "q1"),
        ("assistant", first.content),
        ("user", query_prompt("q2", ["doc one"])),
    ]


async def test_memory_is_untouched_by_a_break_or_a_cut_stream() -> None:
    memory = ChatMemory()
    bot = AsyncQueryBot("S", FixedStore(["doc"]), memory=memory, model_name="mock:echo?delay=0.01")
    async with aclosing(bot.stream_async("one two three")) as deltas:
        async for delta in deltas:
            assert delta == "Documents,"
            break
    assert ledger.last.closed and not ledger.last.completed  # closed at once, not by the GC
    cut = AsyncQueryBot("S", FixedStore(["doc"]), memory=memory, model_name="mock:x?cut_after=2")
    with pytest.raises(StreamInterruptedError):
        async for _delta in cut.stream_async("q"):
            pass
    assert ledger.last.chunks_sent == 2 and not ledger.last.completed
    assert len(memory) == 0 and bot.last_message is None and cut.last_message is None


# -- QueryBot --------------------------------------------------------------------------------------


def test_sync_query_bot_prints_and_returns(capsys: pytest.CaptureFixture[str]) -> None:
    bot = QueryBot("S", FixedStore(["b", "a", "b"]), mock_response="Found it.")
    reply = bot("where?")
    assert reply.content == "Found it." and capsys.readouterr().out == "Found it.\n"
    assert bot.last_documents == ["b", "a"] and bot.last_message == reply
    assert sent_texts()[-1] == ("user", query_prompt("where?", ["b", "a"]))


def test_sync_query_bot_stream_targets() -> None:
    store = FixedStore([])
    assert list(QueryBot("", store, model_name="mock:echo", stream_target="api")("a b")) == [
        "a",
        " b",
    ]
    assert list(QueryBot("", store, model_name="mock:echo", stream_target="panel")("a b")) == [
        "a",
        "a b",
    ]
    quiet = QueryBot("", store, memory=ChatMemory(), model_name="mock:echo", stream_target="none")
    assert quiet("c d").content == "c d" and len(quiet.memory or []) == 2
    assert list(quiet.stream("e f")) == ["e", " f"]
    with pytest.raises(ValueError, match="stream_target must be one of"):
        QueryBot("", store, stream_target="web")  # type: ignore[arg-type]


# -- through a real adapter ------------------------------------------------------------------------


async def test_query_bot_over_a_recorded_stream_through_the_openai_adapter(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = Reply.wire("openai/chat-gpt-4o-mini-text-usage.sse")
    async with provider_ring("openai", reply, project, monkeypatch) as (ring, server):
        bot = AsyncQueryBot(
            "Answer from the documents.",
            BM25DocStore(DOCS),
            model_name="openai:gpt-test",
            ring=ring,
        )
        answer = await bot("capital city")
    assert answer.content == "The capital of the UK is London."
    assert server.requests[-1].json()["messages"] == [
        {"role": "system", "content": "Answer from the documents."},
        {
            "role": "user",
            "content": (
                "Documents, most relevant first:\n\n"
                '<document rank="1">\nLondon, capital city: the capital of the UK.\n</document>\n\n'
                '<document rank="2">\nParis is the capital of France, a city on the Seine.\n'
                "</document>\n\n"
                '<document rank="3">\nBerlin is a city in Germany.\n</document>\n\n'
                "Query: capital city"
            ),
        },
    ]
