"""Chunkers: lossless, independent of delta boundaries, exact chunk lists per chunker."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmring.streaming import (
    Chunker,
    ParagraphChunker,
    SentenceChunker,
    WordChunker,
    get_chunker,
)

CHUNKERS = [SentenceChunker, WordChunker, ParagraphChunker]

# Characters that matter to the chunkers, plus some unicode, so hypothesis hits the edges often.
_INTERESTING = list(" \t\n\r.!?…\"')]*_”’«(1234567890aAeEgiMr") + ["é", "漢", "😀", "\u2028"]
_TOKENS = ["word", "e.g.", "Mr.", "3.14", "1.", "\n\n", "\r\n", "  ", ". ", '?" ', ".\n\n"]
texts = st.lists(
    st.one_of(st.sampled_from(_INTERESTING), st.sampled_from(_TOKENS), st.characters()),
    max_size=60,
).map("".join)


def chunks_of(chunker: Chunker, deltas: list[str]) -> list[str]:
    chunks: list[str] = []
    for delta in deltas:
        chunks += chunker.feed(delta)
    return chunks + chunker.flush()


def split_at(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("chunker_class", CHUNKERS, ids=lambda c: c.name)
@settings(max_examples=300, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(0, 250), max_size=40))
def test_chunking_is_lossless_and_independent_of_delta_boundaries(
    chunker_class: type[Chunker], text: str, cuts: list[int]
) -> None:
    whole = chunks_of(chunker_class(), [text])
    split = chunks_of(chunker_class(), split_at(text, cuts))
    one_char_at_a_time = chunks_of(chunker_class(), list(text))
    assert "".join(split) == text
    assert all(split), "every chunk is non-empty"
    assert split == whole == one_char_at_a_time


@pytest.mark.parametrize("chunker_class", CHUNKERS, ids=lambda c: c.name)
def test_a_chunker_is_reusable_after_flush(chunker_class: type[Chunker]) -> None:
    chunker = chunker_class()
    first = chunks_of(chunker, ["One. Two\n\nthree"])
    assert chunks_of(chunker, ["One. Two\n\nthree"]) == first


SENTENCE_EXAMPLES = [
    ("Hello there. How are you? Fine!", ["Hello there. ", "How are you? ", "Fine!"]),
    ("Pi is 3.14 today. Yes.", ["Pi is 3.14 today. ", "Yes."]),
    (
        "Use e.g. tea, i.e. a drink. Mr. Smith agrees.",
        ["Use e.g. tea, i.e. a drink. ", "Mr. Smith agrees."],
    ),
    ('He said "Stop." Then left.', ['He said "Stop." ', "Then left."]),
    ("Really?!  (Yes.)\nOk", ["Really?!  ", "(Yes.)\n", "Ok"]),
    ("Wait... what", ["Wait... ", "what"]),
    ("# Title\n\nBody text", ["# Title\n\n", "Body text"]),
    ("Steps:\n1. Mix\n2. Bake. Done.", ["Steps:\n1. Mix\n2. Bake. ", "Done."]),
    ("**Bold.** Next", ["**Bold.** ", "Next"]),
    ("End. ", ["End. "]),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCE_EXAMPLES)
def test_sentence_chunks(text: str, expected: list[str]) -> None:
    assert chunks_of(SentenceChunker(), list(text)) == expected


WORD_EXAMPLES = [
    ("Hello big  world", ["Hello ", "big  ", "world"]),
    ("  lead\nand trail \n", ["  lead\n", "and ", "trail \n"]),
    ("one", ["one"]),
    ("   ", ["   "]),
]


@pytest.mark.parametrize(("text", "expected"), WORD_EXAMPLES)
def test_word_chunks(text: str, expected: list[str]) -> None:
    assert chunks_of(WordChunker(), [text]) == expected


PARAGRAPH_EXAMPLES = [
    ("First line\nsame para\n\nSecond", ["First line\nsame para\n\n", "Second"]),
    ("A\r\n\r\nB\n\n\n\nC\n \t\nD", ["A\r\n\r\n", "B\n\n\n\n", "C\n \t\n", "D"]),
    ("A\n\n    indented code\n", ["A\n\n", "    indented code\n"]),
    ("No break at all. Still one.", ["No break at all. Still one."]),
]


@pytest.mark.parametrize(("text", "expected"), PARAGRAPH_EXAMPLES)
def test_paragraph_chunks(text: str, expected: list[str]) -> None:
    assert chunks_of(ParagraphChunker(), [text]) == expected


def test_a_chunk_waits_until_it_is_known_to_be_complete() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("The end.") == []
    assert chunker.feed("  ") == []  # more whitespace could follow
    assert chunker.feed("5") == ["The end.  "]
    assert chunker.feed("x") == []
    assert chunker.flush() == ["5x"]

    decimal = SentenceChunker()
    assert decimal.feed("Costs 3.") == []
    assert decimal.feed("5 now.") == []
    assert decimal.flush() == ["Costs 3.5 now."]


def test_get_chunker_returns_fresh_instances() -> None:
    assert type(get_chunker("sentence")) is SentenceChunker
    assert type(get_chunker("word")) is WordChunker
    assert type(get_chunker("Paragraph")) is ParagraphChunker
    assert get_chunker("word") is not get_chunker("word")
    assert type(get_chunker(WordChunker)) is WordChunker

    used = SentenceChunker()
    used.feed("half a sent")
    copy = get_chunker(used)
    assert copy is not used
    assert copy.flush() == []  # the copy starts empty
    assert used.flush() == ["half a sent"]  # and the original is untouched


def test_get_chunker_rejects_unknown_names_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="'lines'.*paragraph, sentence, word"):
        get_chunker("lines")
    with pytest.raises(TypeError, match="not int"):
        get_chunker(3)  # type: ignore[arg-type]


class LineChunker(Chunker):
    """A user-defined chunker: one line per chunk."""

    name = "line"

    def chunk_end(self, buffer: str) -> int | None:
        newline = buffer.find("\n")
        return newline + 1 if newline >= 0 else None


def test_a_custom_chunker_only_implements_chunk_end() -> None:
    chunker = get_chunker(LineChunker())
    assert chunks_of(chunker, ["a\nb", "c\n", "\nd"]) == ["a\n", "bc\n", "\n", "d"]
