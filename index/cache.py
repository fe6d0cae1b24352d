"""Embedding cache keyed by content hash, so no text is embedded twice by one embedder.

One ``.npz`` per embedder (keys + vectors), rewritten atomically: the notes give a few
hundred vectors, where one small file beats a database.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from corpus.files import atomic_write_bytes
from corpus.records import content_hash


def embedding_key(embedder_name: str, text: str) -> str:
    return content_hash(embedder_name, text, length=32)


class EmbeddingCache:
    def __init__(self, root: Path, embedder_name: str) -> None:
        self.path = root / "embeddings" / f"{embedder_name}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as stored:
                    self._vectors = dict(zip(stored["keys"].tolist(), stored["vectors"]))
            except (OSError, ValueError, KeyError):
                self._vectors = {}  # a damaged cache only costs re-embedding

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        return {key: self._vectors[key] for key in keys if key in self._vectors}

    def put_many(self, vectors: dict[str, np.ndarray]) -> None:
        self._vectors.update(vectors)
        self._dirty = self._dirty or bool(vectors)

    def save(self) -> None:
        if not self._dirty:
            return
        import io

        keys = np.array(list(self._vectors), dtype=np.str_)
        matrix = np.vstack(list(self._vectors.values())).astype(np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, keys=keys, vectors=matrix)
        atomic_write_bytes(self.path, buffer.getvalue())
        self._dirty = False
