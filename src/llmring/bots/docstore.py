"""Document stores for :class:`~llmring.bots.query.AsyncQueryBot`: anything with ``retrieve``.

:class:`BM25DocStore` ranks documents by BM25 (keyword relevance, no embeddings, no network)
with the ``bm25s`` library. ``bm25s`` (and numpy) are imported when a store is built, not when
``llmring.bots`` is imported, so bots without retrieval stay light; install them with the
``rag`` extra (``pip install 'llmring[rag]'``; the error names the command for a checkout).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from llmring._install import install_hint

__all__ = ["BM25DocStore", "DocStore"]


@runtime_checkable
class DocStore(Protocol):
    """What a query bot needs from a store: the documents most relevant to a query, best
    first (duplicates allowed: the bot removes them, keeping the first, best-ranked one)."""

    def retrieve(self, query: str, n_results: int = 10) -> list[str]: ...


def _bm25s() -> Any:
    try:
        return importlib.import_module("bm25s")
    except ImportError as exc:
        raise ImportError(f"BM25DocStore needs the bm25s package: {install_hint('rag')}") from exc


class BM25DocStore:
    """Documents ranked by BM25 against a query.

    ``stopwords`` is passed to ``bm25s.tokenize`` (``"en"`` by default; ``None`` keeps every
    word). The index is rebuilt on the first ``retrieve`` after ``append``/``extend``, so
    adding many documents one by one costs one indexing, not one per document.

    Raises ``ImportError`` (naming the install command) at construction when ``bm25s`` is
    missing, rather than at the first query.
    """

    def __init__(self, documents: Iterable[str] = (), *, stopwords: str | list[str] | None = "en"):
        self._bm25s = _bm25s()
        self.stopwords = stopwords
        self.documents: list[str] = []
        self._index: Any = None  # None: rebuild before the next retrieve
        self.extend(documents)

    def __repr__(self) -> str:
        return f"<BM25DocStore documents={len(self.documents)}>"

    def __len__(self) -> int:
        return len(self.documents)

    def append(self, document: str) -> None:
        self.extend([document])

    def extend(self, documents: Iterable[str]) -> None:
        added = list(documents)
        for document in added:
            if not isinstance(document, str):
                raise TypeError(f"documents are strings, not {type(document).__name__}")
        self.documents.extend(added)
        self._index = None

    def reset(self) -> None:
        """Forget every document."""
        self.documents.clear()
        self._index = None

    def _tokens(self, texts: list[str]) -> Any:
        return self._bm25s.tokenize(texts, stopwords=self.stopwords or [], show_progress=False)

    def _built(self) -> Any:
        if self._index is None:
            tokens = self._tokens(self.documents)
            if not tokens.vocab:
                return None  # nothing but stopwords: bm25s would divide by a zero length
            self._index = self._bm25s.BM25()
            self._index.index(tokens, show_progress=False)
        return self._index

    def retrieve(self, query: str, n_results: int = 10) -> list[str]:
        """Up to ``n_results`` documents sharing a word with ``query``, best first.

        Documents that match no query word (score 0) are left out: they would only fill the
        prompt. Equal scores keep insertion order, so results are deterministic.
        """
        if n_results <= 0 or not self.documents:
            return []
        index = self._built()
        words = self._bm25s.tokenize(
            query, stopwords=self.stopwords or [], return_ids=False, show_progress=False
        )[0]
        if index is None or not words:
            return []
        scores = index.get_scores(words)
        order = (-scores).argsort(kind="stable")  # stable: ties stay in insertion order
        ranked = [int(i) for i in order if scores[i] > 0]
        return [self.documents[i] for i in ranked[:n_results]]
