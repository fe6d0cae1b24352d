"""FAISS index construction. Vectors are L2-normalized, so inner product = cosine."""

from __future__ import annotations

import faiss
import numpy as np

from index.config import IndexConfig


def choose_index_type(n_vectors: int, config: IndexConfig) -> str:
    if config.faiss_index != "auto":
        return config.faiss_index
    return "hnsw" if n_vectors >= config.hnsw_threshold else "flat"


def build_faiss(vectors: np.ndarray, config: IndexConfig) -> faiss.Index:
    """(n, dim) float32 -> a searchable FAISS index holding the vectors in row order."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    index: faiss.Index
    if choose_index_type(len(vectors), config) == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = config.hnsw_ef_search
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index


def all_vectors(index: faiss.Index) -> np.ndarray:
    """(ntotal, dim) float32 copy of the stored vectors (Flat and HNSWFlat keep them)."""
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_n(0, index.ntotal)
