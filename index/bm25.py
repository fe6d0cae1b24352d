"""BM25 over chunks with a Spanish-aware analyser (bm25s + Snowball stemming)."""

from __future__ import annotations

import logging

import bm25s
import numpy as np

from corpus.text import analyse

# bm25s logs "Building index from tokens" on its own handler at every build.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class BM25Index:
    """Scores every chunk for a query; the corpus is small enough to rebuild at load time."""

    def __init__(self, texts: list[str]) -> None:
        self._size = len(texts)
        self._bm25 = bm25s.BM25()
        # An empty analysed document still needs a token for bm25s' matrices.
        self._bm25.index([analyse(t) or ["_"] for t in texts], show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """(n_chunks,) float32 BM25 scores; all zero when no query term is known."""
        tokens = [t for t in analyse(query) if t in self._bm25.vocab_dict]
        if not tokens or self._size == 0:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
