"""One index over several notebooks' indexes: the chat's "todas" scope.

The notebooks' chunks and vectors are put side by side in memory (nothing is written):
each chunk carries its notebook's name (``Chunk.notebook``, shown in its citation) and an
id prefixed with it, so the same note in two notebooks stays two passages. BM25 is built
over the union, so its statistics are those of every notebook together. The indexes must
share their embedder: a question's vector is compared with every chunk's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from corpus.errors import SettingsError
from index.faiss_store import all_vectors, build_faiss
from index.store import NotesIndex


def merged_index(parts: list[tuple[str, NotesIndex]]) -> NotesIndex:
    """The notebooks' indexes (name, index) as one; SettingsError when their embedders
    differ or there is none."""
    if not parts:
        raise SettingsError("No hay ningún cuaderno en el que buscar")
    first = parts[0][1]
    for name, index in parts:
        if index.config.embedder != first.config.embedder:
            raise SettingsError(
                f"El cuaderno {name!r} está indexado con {index.config.embedder} y "
                f"{parts[0][0]!r} con {first.config.embedder}: reindéxalos con el mismo "
                "modelo para buscar en todos"
            )
    chunks = [
        replace(chunk, id=f"{name}:{chunk.id}", notebook=name)
        for name, index in parts
        for chunk in index.chunks
    ]
    vectors = np.vstack([all_vectors(index.vectors) for _, index in parts])
    manifest = {"notes_dir": None, "notebooks": [name for name, _ in parts]}
    return NotesIndex(
        Path("todas"),
        first.config,
        first.chunk_config,
        chunks,
        build_faiss(vectors, first.config),
        manifest,
        [f"{name}:{key}" for name, index in parts for key in index.embed_keys],
    )
