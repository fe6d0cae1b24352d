"""Offline fakes: a deterministic embedder that counts what it embeds."""

from __future__ import annotations

import hashlib

import numpy as np

from index.bm25 import analyse


class HashEmbedder:
    """Bag of analysed words hashed into signed buckets: similar words -> similar vectors.

    Deterministic and instant; good enough that a chunk's own text is its nearest vector.
    """

    name = "fake-hash"
    dim = 256

    def __init__(self) -> None:
        self.passages_embedded = 0
        self.queries_embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for token in analyse(text) or ["_empty_"]:
            digest = hashlib.md5(token.encode("utf-8")).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vector[bucket] += 1.0 if digest[4] % 2 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        self.queries_embedded += 1
        return self._vector(text)
