"""Configuration of the index stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from corpus.errors import SettingsError

RetrieverName = Literal["fused", "dense", "bm25"]
RETRIEVERS: tuple[str, ...] = ("fused", "dense", "bm25")


@dataclass(frozen=True)
class IndexConfig:
    """What the index is built with and how it is searched by default."""

    embedder: str = "e5-small"  # measured best on the Spanish dev set (docs/RESULTS.md)
    retriever: RetrieverName = "fused"
    fusion: Literal["score", "rrf"] = "score"
    # Weight of the dense retriever in the fusion, tuned on the dev set: 0.3-0.5 form a
    # plateau (recall@5 0.971, MRR@10 0.896-0.899); the middle is less fit to this one set.
    dense_weight: float = 0.4
    rrf_k: int = 60  # the constant of Cormack et al.'s reciprocal-rank fusion
    candidates: int = 50  # per retriever, before fusion
    faiss_index: Literal["auto", "flat", "hnsw"] = "auto"
    # "auto" switches from exact search to HNSW here: exact search of 100k x 384 vectors
    # took ~14 ms p50 on 2 cores (eval/bench/scale.py), linear in n, so exact search stays
    # under 20 ms to ~150k chunks, far more than a student's notes.
    hnsw_threshold: int = 150_000
    hnsw_m: int = 32
    hnsw_ef_search: int = 128

    def __post_init__(self) -> None:
        if self.retriever not in RETRIEVERS:
            raise SettingsError(f"retriever must be one of {RETRIEVERS}, got {self.retriever!r}")
        if self.fusion not in ("score", "rrf"):
            raise SettingsError(f"fusion must be 'score' or 'rrf', got {self.fusion!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise SettingsError(f"dense_weight must be in [0, 1], got {self.dense_weight}")
        if self.candidates < 1:
            raise SettingsError(f"candidates must be >= 1, got {self.candidates}")
        if self.faiss_index not in ("auto", "flat", "hnsw"):
            raise SettingsError(f"faiss_index must be auto, flat or hnsw, got {self.faiss_index!r}")
        if self.hnsw_m < 4 or self.hnsw_ef_search < 1:
            raise SettingsError(
                f"hnsw_m must be >= 4 and hnsw_ef_search >= 1, got {self.hnsw_m}, "
                f"{self.hnsw_ef_search}"
            )
