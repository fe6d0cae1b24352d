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

from corpus.errors import AssistantError, SettingsError
from corpus.notebooks import Notebook
from index.config import IndexConfig
from index.faiss_store import all_vectors, build_faiss
from index.store import NotesIndex, open_index


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


def open_notebooks(
    notebooks: list[Notebook],
    index_config: IndexConfig | None = None,
    opened: dict[Path, NotesIndex] | None = None,
    index_dirs: dict[Path, Path] | None = None,
) -> tuple[NotesIndex, list[str], list[str]]:
    """Every notebook's folder indexed (only changed notes embedded) and merged: the app's
    and the CLI's "todas". ``opened``: indexes already at hand, by notes folder;
    ``index_dirs``: a folder's index when not its notebook's own (the app's --index).
    Returns (the merged index, a line for each notebook left out because its folder cannot
    be indexed, the builds' warnings as "notebook: warning")."""
    parts, left_out, warnings = [], [], []
    for notebook in notebooks:
        index = (opened or {}).get(notebook.notes_dir)
        if index is None:
            index_dir = (index_dirs or {}).get(notebook.notes_dir, notebook.index_dir)
            try:
                index, report = open_index(notebook.notes_dir, index_dir, index_config=index_config)
            except AssistantError as err:
                left_out.append(f"El cuaderno «{notebook.name}» se deja fuera: {err}")
                continue
            warnings += [f"{notebook.name}: {w}" for w in (report.warnings if report else ())]
        parts.append((notebook.name, index))
    return merged_index(parts), left_out, warnings
