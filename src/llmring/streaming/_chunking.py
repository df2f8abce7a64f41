"""Chunkers: cut a stream of text deltas into sentences, words or paragraphs (docs/validation.md).

A chunker is fed deltas as they arrive and hands back the chunks it knows to be complete; at
the end, :meth:`Chunker.flush` returns the rest. Chunking is lossless (the chunks joined are
the text, whitespace and punctuation included) and does not depend on where the deltas were
cut: a chunk is emitted only once the character after it has arrived, so ``"end."`` waits for
the next character (``"end.5"`` is no sentence end, ``"end. Next"`` is).
"""

from __future__ import annotations

import copy
import re
from typing import ClassVar, Literal, Self

__all__ = ["Chunker", "ParagraphChunker", "SentenceChunker", "WordChunker", "get_chunker"]

ChunkingName = Literal["sentence", "word", "paragraph"]

# Closing quotes, brackets and Markdown emphasis that belong to the sentence they end.
_CLOSERS = "\"'\u201d\u2019\u00bb)\\]}*_"
_SENTENCE_END = re.compile(
    rf"[.!?\u2026]+[{_CLOSERS}]*\s+(?=\S)"  # terminal punctuation, closers, whitespace
    r"|\n\s*\n\s*(?=\S)"  # a blank line ends a sentence too (headings, list items)
)
_WORD = re.compile(r"\s*\S+\s+(?=\S)")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n(?=[^\S\n]*\S)")
_BLANK_LINE = re.compile(r"\n\s*\n")
_LAST_WORD = re.compile(r"(\S*)\Z")
_OPENERS = "\"'\u201c\u2018\u00ab([{*_"
# What a sentence end is made of: a match the next delta can complete lies inside the buffer's
# trailing run of these characters, so a search resumes there instead of rescanning it all.
_SENTENCE_END_CHARS = frozenset(".!?\u2026" + _CLOSERS)


def _trailing_run_start(buffer: str, extra: frozenset[str] = frozenset()) -> int:
    """Where the buffer's trailing run of whitespace (and ``extra`` characters) begins."""
    start = len(buffer)
    while start and (buffer[start - 1].isspace() or buffer[start - 1] in extra):
        start -= 1
    return start


#: words that a single "." after them does not end a sentence with (lower case, no final ".")
ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "cf",
        "approx",
        "fig",
        "no",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "u.s",
        "inc",
        "ltd",
        "co",
        "dept",
        "est",
        "vol",
    }
)


class Chunker:
    """Base class of the chunkers: stateful, one stream at a time.

    Subclasses implement :meth:`chunk_end`; the base keeps the buffer, so every chunker is
    lossless by construction. Subclasses that keep more state extend :meth:`reset`.
    """

    name: ClassVar[str] = "custom"

    def __init__(self) -> None:
        self._buffer = ""

    def chunk_end(self, buffer: str) -> int | None:
        """Where the first complete chunk of ``buffer`` ends (an index > 0), or ``None`` when
        no chunk is known to be complete yet. More text must never move an end returned here.
        """
        raise NotImplementedError

    def feed(self, delta: str) -> list[str]:
        """Add ``delta`` and return the chunks now known to be complete (maybe none)."""
        self._buffer += delta
        chunks = []
        while self._buffer and (end := self.chunk_end(self._buffer)):
            chunks.append(self._buffer[:end])
            self._buffer = self._buffer[end:]
        return chunks

    def flush(self) -> list[str]:
        """The end of the text: return what is left as the last chunk (if anything)."""
        chunks = self.feed("")
        if self._buffer:
            chunks.append(self._buffer)
        self.reset()
        return chunks

    def reset(self) -> None:
        """Forget any buffered text, ready for a new stream."""
        self._buffer = ""

    def fresh(self) -> Self:
        """An independent copy with an empty buffer (a deep copy, then :meth:`reset`)."""
        clone = copy.deepcopy(self)
        clone.reset()
        return clone

    def __repr__(self) -> str:
        return f"<{type(self).__name__} buffered={len(self._buffer)}>"


class WordChunker(Chunker):
    """A word and the whitespace after it (leading whitespace joins the first word)."""

    name = "word"

    def chunk_end(self, buffer: str) -> int | None:
        match = _WORD.match(buffer)
        return match.end() if match else None


class _ResumingChunker(Chunker):
    """A chunker whose chunk ends are runs of whitespace (and ``_run_chars``) before the next
    visible character: after a search that found none, the next one starts at the buffer's
    trailing run, so a long chunk is scanned once, not once per delta (linear, not quadratic)."""

    _run_chars: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self._resume = 0  # no chunk end can start before this index of the buffer

    def chunk_end(self, buffer: str) -> int | None:
        end = self._find_end(buffer, min(self._resume, len(buffer)))
        self._resume = 0 if end is not None else _trailing_run_start(buffer, self._run_chars)
        return end

    def _find_end(self, buffer: str, start: int) -> int | None:
        raise NotImplementedError

    def reset(self) -> None:
        super().reset()
        self._resume = 0


class ParagraphChunker(_ResumingChunker):
    """Text up to and including a blank-line separator (``\\n\\n``, more newlines, ``\\r\\n``,
    blank lines holding spaces). Indentation after the separator starts the next paragraph."""

    name = "paragraph"

    def _find_end(self, buffer: str, start: int) -> int | None:
        match = _PARAGRAPH_BREAK.search(buffer, start)
        return match.end() if match else None


class SentenceChunker(_ResumingChunker):
    """A sentence and the whitespace after it.

    A sentence ends at ``.``, ``!``, ``?`` or ``…`` (with any closing quotes, brackets or
    ``*``/``_`` after them) followed by whitespace, or at a blank line. ``3.14`` is not cut;
    neither is a single ``.`` after a word in :data:`ABBREVIATIONS` (``e.g.``, ``Mr.``) or after
    a number that starts a line (``1. First``). Best effort: ``"... in the U.S. Then"`` stays
    one sentence.
    """

    name = "sentence"
    abbreviations: frozenset[str] = ABBREVIATIONS
    _run_chars = _SENTENCE_END_CHARS

    def _find_end(self, buffer: str, start: int) -> int | None:
        for match in _SENTENCE_END.finditer(buffer, start):
            if not self._is_abbreviation(buffer, match):
                return match.end()
        return None

    def _is_abbreviation(self, buffer: str, match: re.Match[str]) -> bool:
        ending = match.group()
        if not ending.startswith(".") or ending[1:2] == "." or _BLANK_LINE.search(ending):
            return False
        before = buffer[: match.start()]
        word_match = _LAST_WORD.search(before)
        word = word_match.group(1) if word_match else ""
        at_line_start = before[: len(before) - len(word)].endswith("\n") or len(word) == len(before)
        if word.isdigit() and at_line_start:
            return True
        return word.lstrip(_OPENERS).lower() in self.abbreviations


_CHUNKERS: dict[str, type[Chunker]] = {
    "sentence": SentenceChunker,
    "word": WordChunker,
    "paragraph": ParagraphChunker,
}


def get_chunker(chunking: ChunkingName | str | Chunker | type[Chunker]) -> Chunker:
    """A fresh chunker: by name, a copy of a chunker instance, or an instance of a subclass.

    Raises ``ValueError`` for an unknown name and ``TypeError`` for anything else.
    """
    if isinstance(chunking, Chunker):
        return chunking.fresh()
    if isinstance(chunking, type) and issubclass(chunking, Chunker):
        return chunking()
    if isinstance(chunking, str):
        chunker_class = _CHUNKERS.get(chunking.strip().lower())
        if chunker_class is None:
            raise ValueError(
                f"unknown chunking {chunking!r}; choose one of {', '.join(sorted(_CHUNKERS))} "
                "or pass a Chunker"
            )
        return chunker_class()
    raise TypeError(f"chunking must be a name or a Chunker, not {type(chunking).__name__}")
