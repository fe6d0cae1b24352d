"""The embedder contract."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns text into L2-normalized float32 vectors, so inner product = cosine."""

    name: str  # registry key, also part of every embedding cache key
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalized."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalized."""
        ...
