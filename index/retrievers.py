"""Retrievers: dense (FAISS), sparse (BM25) and their fusion, behind one ``search``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

import faiss
import numpy as np

from corpus.records import Chunk, Hit
from index.bm25 import BM25Index

Ranking = list[tuple[int, float]]  # (chunk row, score), best first


class Retriever(Protocol):
    def rank(self, query: str, n: int) -> Ranking: ...


class DenseRetriever:
    def __init__(self, index: faiss.Index, embed_query: Callable[[str], np.ndarray]) -> None:
        self.index, self.embed_query = index, embed_query

    def rank(self, query: str, n: int) -> Ranking:
        n = min(n, self.index.ntotal)
        if n == 0:
            return []
        query_vector = self.embed_query(query).reshape(1, -1)  # (1, dim)
        scores, rows = self.index.search(query_vector, n)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]


class BM25Retriever:
    def __init__(self, bm25: BM25Index) -> None:
        self.bm25 = bm25

    def rank(self, query: str, n: int) -> Ranking:
        scores = self.bm25.scores(query)
        n = min(n, len(scores))
        top = np.argsort(-scores, kind="stable")[:n]
        return [(int(r), float(scores[r])) for r in top if scores[r] > 0]


def _min_max(values: dict[int, float]) -> dict[int, float]:
    low, high = min(values.values()), max(values.values())
    span = high - low
    return {row: (v - low) / span if span > 0 else 1.0 for row, v in values.items()}


class FusedRetriever:
    """Combines a dense and a BM25 ranking with a tuned weight.

    ``score``: convex combination of min-max normalized scores over the union of both
    candidate lists (a candidate missing from one list gets that list's lowest score).
    ``rrf``: weighted reciprocal-rank fusion. Neither is in a library we use; each is a few
    lines. Plain (unweighted) RRF measured worse than dense alone on the dev set.
    """

    def __init__(
        self,
        dense: Retriever,
        sparse: Retriever,
        dense_weight: float,
        method: str = "score",
        candidates: int = 50,
        rrf_k: int = 60,
    ) -> None:
        self.dense, self.sparse = dense, sparse
        self.dense_weight, self.method = dense_weight, method
        self.candidates, self.rrf_k = candidates, rrf_k

    def rank(self, query: str, n: int) -> Ranking:
        pool = max(n, self.candidates)
        dense = dict(self.dense.rank(query, pool)) if self.dense_weight > 0 else {}
        sparse = dict(self.sparse.rank(query, pool)) if self.dense_weight < 1 else {}
        fused = self.fuse(dense, sparse)
        return sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:n]

    def fuse(self, dense: dict[int, float], sparse: dict[int, float]) -> dict[int, float]:
        rows = dense.keys() | sparse.keys()
        if not rows:
            return {}
        w = self.dense_weight
        if self.method == "rrf":
            dense_rank = {
                row: i
                for i, row in enumerate(
                    sorted(dense, key=cast(Callable[[int], float], dense.get), reverse=True)
                )
            }
            sparse_rank = {
                row: i
                for i, row in enumerate(
                    sorted(sparse, key=cast(Callable[[int], float], sparse.get), reverse=True)
                )
            }
            missing = len(rows)  # a row absent from one list ranks after all its members
            return {
                row: w / (self.rrf_k + dense_rank.get(row, missing))
                + (1 - w) / (self.rrf_k + sparse_rank.get(row, missing))
                for row in rows
            }
        dense_norm = _min_max(dense) if dense else {}
        sparse_norm = _min_max(sparse) if sparse else {}
        return {
            row: w * dense_norm.get(row, 0.0) + (1 - w) * sparse_norm.get(row, 0.0) for row in rows
        }


def to_hits(chunks: list[Chunk], ranking: Ranking) -> list[Hit]:
    return [Hit(chunk=chunks[row], score=score) for row, score in ranking]
