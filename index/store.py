"""The on-disk index: one folder, its config as JSON, written atomically.

Layout::

    INDEX_DIR/
      CURRENT            name of the live version folder (replaced atomically)
      v-<stamp>/         config.json, chunks.jsonl, vectors.faiss, embed_keys.json
      .lock              held while a build runs

A build writes a new version folder, then swaps CURRENT with os.replace; a build killed at
any point leaves CURRENT naming the previous, complete version.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

from corpus.chunking import chunk_notes
from corpus.config import ChunkConfig
from corpus.errors import AssistantError, IndexCorruptError, IndexNotBuiltError, SettingsError
from corpus.loader import load_notes
from corpus.records import Chunk, Hit
from index.bm25 import BM25Index
from index.cache import EmbeddingCache, atomic_write_bytes, default_cache_dir, embedding_key
from index.config import IndexConfig
from index.embedders import get_embedder
from index.faiss_store import all_vectors, build_faiss, choose_index_type
from index.retrievers import BM25Retriever, DenseRetriever, FusedRetriever, Retriever, to_hits

FORMAT_VERSION = 2  # 2: embedding keys stored beside the vectors
CURRENT = "CURRENT"


def reindex_hint(index_dir: Path, notes_dir: str | None = None) -> str:
    notes = notes_dir or "CARPETA_DE_NOTAS"
    return f"vuelve a indexar con: python -m assistant index --notes {notes} --index {index_dir}"


@dataclass
class BuildReport:
    index_dir: str
    notes: int
    chunks: int
    embedded: int  # texts sent to the embedder in this build
    reused: int  # vectors taken from the previous index or the cache
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


class NotesIndex:
    """A loaded index: chunks, their vectors in FAISS, and BM25 over the same chunks."""

    def __init__(
        self,
        path: Path,
        config: IndexConfig,
        chunk_config: ChunkConfig,
        chunks: list[Chunk],
        vectors: faiss.Index,
        manifest: dict,
        embed_keys: list[str] | None = None,
    ) -> None:
        self.path, self.config, self.chunk_config = path, config, chunk_config
        self.chunks, self.vectors, self.manifest = chunks, vectors, manifest
        # The cache key each vector was computed under. Stored, not recomputed: if the text
        # given to the embedder changes between versions, old vectors must not be reused.
        self.embed_keys = embed_keys or []
        self._bm25: BM25Index | None = None
        self._rows = {chunk.id: row for row, chunk in enumerate(chunks)}
        self._query_vectors: dict[str, np.ndarray] = {}  # small memo: a question is
        # embedded once even when retrieval and the abstention check both need it

    @property
    def notes_dir(self) -> str | None:
        return self.manifest.get("notes_dir")

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            self._bm25 = BM25Index([chunk.embed_text() for chunk in self.chunks])
        return self._bm25

    def query_vector(self, query: str) -> np.ndarray:
        """(dim,) float32 embedding of a query, memoized for the last few queries."""
        if query not in self._query_vectors:
            if len(self._query_vectors) >= 64:
                self._query_vectors.pop(next(iter(self._query_vectors)))
            self._query_vectors[query] = get_embedder(self.config.embedder).embed_query(query)
        return self._query_vectors[query]

    def similarities(self, query: str, chunks: list[Chunk]) -> np.ndarray:
        """(len(chunks),) cosine similarity of the query with each chunk's vector."""
        vectors = np.vstack([self.vectors.reconstruct(self._rows[c.id]) for c in chunks])
        return vectors @ self.query_vector(query)

    def retriever(self, name: str | None = None, dense_weight: float | None = None) -> Retriever:
        name = name or self.config.retriever
        if name == "bm25":
            return BM25Retriever(self.bm25)
        dense = DenseRetriever(self.vectors, self.query_vector)
        if name == "dense":
            return dense
        return FusedRetriever(
            dense,
            BM25Retriever(self.bm25),
            dense_weight=self.config.dense_weight if dense_weight is None else dense_weight,
            method=self.config.fusion,
            candidates=self.config.candidates,
            rrf_k=self.config.rrf_k,
        )

    def search(self, query: str, k: int = 5, retriever: str | None = None) -> list[Hit]:
        return to_hits(self.chunks, self.retriever(retriever).rank(query, k))

    def vectors_by_key(self) -> dict[str, np.ndarray]:
        return dict(zip(self.embed_keys, all_vectors(self.vectors)))

    @classmethod
    def load(cls, index_dir: str | Path) -> NotesIndex:
        index_dir = Path(index_dir)
        pointer = index_dir / CURRENT
        if not pointer.exists():
            if index_dir.exists() and any(index_dir.glob("v-*")):
                raise IndexCorruptError(
                    f"El índice en {index_dir} está dañado (falta {CURRENT}): "
                    + reindex_hint(index_dir)
                )
            raise IndexNotBuiltError(
                f"No hay índice en {index_dir}: créalo con python -m assistant index "
                f"--notes CARPETA_DE_NOTAS --index {index_dir}"
            )
        notes_dir = None
        try:
            version = index_dir / pointer.read_text(encoding="utf-8").strip()
            manifest = json.loads((version / "config.json").read_text(encoding="utf-8"))
            notes_dir = manifest.get("notes_dir")
            if manifest.get("format_version") != FORMAT_VERSION:
                raise SettingsError(f"formato {manifest.get('format_version')!r}")
            config = IndexConfig(**manifest["index"])
            chunk_config = ChunkConfig(
                **{**manifest["chunking"], "suffixes": tuple(manifest["chunking"]["suffixes"])}
            )
            with open(version / "chunks.jsonl", encoding="utf-8") as handle:
                chunks = [Chunk.from_dict(json.loads(line)) for line in handle]
            vectors = faiss.read_index(str(version / "vectors.faiss"))
            embed_keys = json.loads((version / "embed_keys.json").read_text(encoding="utf-8"))
            if not vectors.ntotal == len(chunks) == len(embed_keys) == manifest["n_chunks"]:
                raise SettingsError(f"{vectors.ntotal} vectores para {len(chunks)} fragmentos")
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            detail = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
            raise IndexCorruptError(
                f"El índice en {index_dir} está dañado ({detail}): "
                + reindex_hint(index_dir, notes_dir)
            ) from None
        return cls(index_dir, config, chunk_config, chunks, vectors, manifest, embed_keys)


@contextmanager
def _build_lock(index_dir: Path):
    with open(index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AssistantError(
                f"Otro proceso está indexando {index_dir}; espera a que termine"
            ) from None
        yield


def _previous(index_dir: Path, warnings: list[str]) -> NotesIndex | None:
    try:
        return NotesIndex.load(index_dir)
    except IndexNotBuiltError:
        return None
    except IndexCorruptError:
        warnings.append(f"el índice anterior en {index_dir} estaba dañado; se reconstruye entero")
        return None


def _check_index_dir(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise AssistantError(f"La ruta del índice no es una carpeta: {index_dir}")
    if index_dir.exists():
        foreign = [
            p.name
            for p in index_dir.iterdir()
            if p.name not in (CURRENT, ".lock") and not p.name.startswith(("v-", ".tmp-"))
        ]
        if foreign:
            raise AssistantError(
                f"{index_dir} no es una carpeta de índice (contiene {foreign[0]}); "
                "elige una carpeta vacía o nueva"
            )


def embed_missing(
    texts_by_key: dict[str, str], known: dict[str, np.ndarray], embedder_name: str, progress: bool
) -> dict[str, np.ndarray]:
    """Embed the texts whose key has no vector yet; the model loads only if needed."""
    missing = [key for key in texts_by_key if key not in known]
    if not missing:
        return {}
    embedder = get_embedder(embedder_name)
    batch = 8
    fresh: dict[str, np.ndarray] = {}
    with tqdm(
        total=len(missing), desc="Calculando embeddings", unit="frag", disable=not progress
    ) as bar:
        for i in range(0, len(missing), batch):
            keys = missing[i : i + batch]
            vectors = embedder.embed_passages([texts_by_key[key] for key in keys])
            fresh.update(zip(keys, vectors))
            bar.update(len(keys))
    return fresh


def build_index(
    notes_dir: str | Path,
    index_dir: str | Path,
    chunk_config: ChunkConfig | None = None,
    index_config: IndexConfig | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> BuildReport:
    """Index ``notes_dir`` into ``index_dir``, embedding only chunks never embedded before.

    Without explicit configs, the previous index's chunking and embedder are kept; search
    settings (retriever, fusion weight) take the current defaults.
    """
    began = time.perf_counter()
    notes_dir, index_dir = Path(notes_dir), Path(index_dir)
    _check_index_dir(index_dir)
    loaded = load_notes(notes_dir, chunk_config or ChunkConfig())
    warnings = list(loaded.warnings)
    index_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock(index_dir):
        previous = _previous(index_dir, warnings)
        if previous is not None:
            chunk_config = chunk_config or previous.chunk_config
            index_config = index_config or IndexConfig(embedder=previous.config.embedder)
        chunk_config = chunk_config or ChunkConfig()
        index_config = index_config or IndexConfig()
        chunks = chunk_notes(loaded.notes, chunk_config)
        texts_by_key = {
            embedding_key(index_config.embedder, c.embed_text()): c.embed_text() for c in chunks
        }

        known: dict[str, np.ndarray] = {}
        if previous is not None and previous.config.embedder == index_config.embedder:
            known.update(previous.vectors_by_key())
        cache = EmbeddingCache(cache_dir or default_cache_dir(), index_config.embedder)
        known.update(cache.get_many([k for k in texts_by_key if k not in known]))
        fresh = embed_missing(texts_by_key, known, index_config.embedder, progress)
        cache.put_many(fresh)
        cache.save()
        known.update(fresh)

        keys = [embedding_key(index_config.embedder, c.embed_text()) for c in chunks]
        vectors = np.vstack([known[key] for key in keys]).astype(np.float32)
        old_notes = previous.manifest["notes"] if previous else {}
        new_notes = {
            note.source: {
                "sha256": note.sha256,
                "chunks": sum(1 for c in chunks if c.source == note.source),
            }
            for note in loaded.notes
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            "notes_dir": str(notes_dir.resolve()),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "n_chunks": len(chunks),
            "faiss_index": choose_index_type(len(chunks), index_config),
            "index": asdict(index_config),
            "chunking": asdict(chunk_config),
            "notes": new_notes,
        }
        _write_version(index_dir, manifest, chunks, keys, build_faiss(vectors, index_config))

    return BuildReport(
        index_dir=str(index_dir),
        notes=len(loaded.notes),
        chunks=len(chunks),
        embedded=len(fresh),
        reused=len(texts_by_key) - len(fresh),
        added=sorted(set(new_notes) - set(old_notes)),
        changed=sorted(
            s
            for s in new_notes
            if s in old_notes and new_notes[s]["sha256"] != old_notes[s]["sha256"]
        ),
        removed=sorted(set(old_notes) - set(new_notes)),
        warnings=warnings,
        seconds=time.perf_counter() - began,
    )


def open_index(
    notes_dir: str | Path | None = None,
    index_dir: str | Path | None = None,
    chunk_config: ChunkConfig | None = None,
    index_config: IndexConfig | None = None,
    progress: bool = False,
) -> tuple[NotesIndex, BuildReport | None]:
    """The one way every entry point (CLI, session, app) gets an index: with a notes
    folder, (re)index it first (only changed notes are embedded) into ``index_dir`` or the
    folder's default index in the cache; without one, load ``index_dir`` as it is. Returns
    the index and the build report (None when nothing was built)."""
    from index.cache import default_index_dir

    if index_dir is None and notes_dir is None:
        raise SettingsError("Indica la carpeta del índice o la de las notas")
    index_dir = Path(index_dir) if index_dir else default_index_dir(Path(notes_dir))
    report = None
    if notes_dir is not None:
        report = build_index(notes_dir, index_dir, chunk_config, index_config, progress=progress)
    return NotesIndex.load(index_dir), report


def _write_version(
    index_dir: Path, manifest: dict, chunks: list[Chunk], keys: list[str], vectors: faiss.Index
) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    staging = index_dir / f".tmp-{stamp}"
    staging.mkdir()
    try:
        lines = "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in chunks)
        (staging / "chunks.jsonl").write_text(lines, encoding="utf-8")
        (staging / "embed_keys.json").write_text(json.dumps(keys), encoding="utf-8")
        faiss.write_index(vectors, str(staging / "vectors.faiss"))
        # config.json last: a version folder without it is never taken for complete.
        (staging / "config.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        version = index_dir / f"v-{stamp}"
        staging.rename(version)
        atomic_write_bytes(index_dir / CURRENT, version.name.encode("utf-8"))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for stale in index_dir.iterdir():  # older versions and leftovers of killed builds
        if stale.is_dir() and stale.name != version.name and stale.name.startswith(("v-", ".tmp-")):
            shutil.rmtree(stale, ignore_errors=True)


def with_config(index: NotesIndex, **changes) -> NotesIndex:
    """The same loaded index searched with other settings (evaluation, tuning)."""
    return NotesIndex(
        index.path,
        replace(index.config, **changes),
        index.chunk_config,
        index.chunks,
        index.vectors,
        index.manifest,
        index.embed_keys,
    )
