"""The on-disk index: one folder, its config as JSON, written atomically.

Layout::

    INDEX_DIR/
      CURRENT            name of the live version folder (replaced atomically)
      v-<stamp>/         config.json, chunks.jsonl, vectors.faiss, embed_keys.json
      .lock              held while a build runs

A build writes a new version folder, then swaps CURRENT with os.replace; a build killed at
any point leaves CURRENT naming the previous, complete version.

Loading trusts nothing it reads: CURRENT must name a version folder inside INDEX_DIR, every
field of config.json is checked for its type, and the vectors must match the manifest's
count, dimension and sha256 (``vectors`` in config.json, written since this check
exists; an older index without it still loads, and its vectors are reused by the next
build only when their dimension is the embedder's). A damaged index is an
IndexCorruptError saying "vuelve a indexar", and the next build starts over from the
notes (and the embedding cache).
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypeGuard, cast

import faiss
import numpy as np
from tqdm import tqdm

from corpus.chunking import chunk_notes, image_chunks
from corpus.config import ChunkConfig
from corpus.errors import AssistantError, SettingsError
from corpus.files import atomic_write_bytes, file_sha256, resolves_inside
from corpus.loader import load_notes, unsupported_warning
from corpus.ocr import ImageReading, read_note_images
from corpus.paths import default_cache_dir
from corpus.records import Chunk, Hit
from index.bm25 import BM25Index
from index.cache import EmbeddingCache, embedding_key
from index.config import IndexConfig
from index.embedders import bulk_embedder, get_embedder
from index.errors import IndexCorruptError, IndexNotBuiltError
from index.faiss_store import all_vectors, build_faiss, choose_index_type
from index.retrievers import BM25Retriever, DenseRetriever, FusedRetriever, Retriever, to_hits

FORMAT_VERSION = 2  # 2: embedding keys stored beside the vectors
CURRENT = "CURRENT"
# What CURRENT may hold: the name of a version folder (v-<stamp>), never a path.
_VERSION_NAME = re.compile(r"v-[0-9A-Za-z_-]+")


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
    images: int = 0  # chunks read from the notes' images (corpus/ocr.py)
    ocr_read: int = 0  # images read by OCR in this build (the others came from the cache)

    def summary(self) -> str:
        """What the (re)index did, for the student, in two lines: how many notes the index
        holds, then which notes changed. The CLI and the app say it in these words."""
        changes = [
            f"{label}: {', '.join(names)}."
            for label, names in (
                ("Nuevas", self.added),
                ("Cambiadas", self.changed),
                ("Quitadas", self.removed),
            )
            if names
        ]
        images = f" ({self.images} de imágenes)" if self.images else ""
        return f"Índice listo: {self.notes} notas, {self.chunks} fragmentos{images}.\n" + (
            " ".join(changes) if changes else "Sin cambios en las notas."
        )

    def work(self) -> str:
        """The build's cost, for the terminal: what was embedded, what reused, how long."""
        return (
            f"{self.embedded} fragmentos calculados, {self.reused} reutilizados, en "
            f"{self.seconds:.1f} s"
        )


# What a search reads of a query: as much as the assistant reads of a question
# (AssistantConfig.max_question_chars).
MAX_QUERY_CHARS = 1000


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
        # Searches may run in threads (the app's concurrent chats, LangChain's batch).
        self._memo_lock = threading.Lock()

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
        with self._memo_lock:
            vector = self._query_vectors.get(query)
        if vector is None:
            vector = get_embedder(self.config.embedder).embed_query(query)
            if vector.shape != (self.vectors.d,):  # FAISS would assert, killing the process
                raise IndexCorruptError(
                    f"El índice en {self.path} está dañado (vectores de dimensión "
                    f"{self.vectors.d}; {self.config.embedder} da {vector.shape[-1]}): "
                    + reindex_hint(self.path, self.notes_dir)
                )
            with self._memo_lock:
                if len(self._query_vectors) >= 64:
                    self._query_vectors.pop(next(iter(self._query_vectors)))
                self._query_vectors[query] = vector
        return vector

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

    def search(
        self, query: str, k: int = 5, retriever: str | None = None, tags: tuple[str, ...] = ()
    ) -> list[Hit]:
        """The top ``k`` chunks for ``query``; only its first MAX_QUERY_CHARS are read (a
        100,000-character query held the shared embedder for 40 s). With ``tags``, only the
        chunks of notes tagged with every one of them (their front matter's tags; case
        does not matter)."""
        query = query[:MAX_QUERY_CHARS]
        if not tags:
            return to_hits(self.chunks, self.retriever(retriever).rank(query, k))
        wanted = {tag.casefold() for tag in tags}
        allowed = {
            row
            for row, chunk in enumerate(self.chunks)
            if wanted <= {t.casefold() for t in chunk.tags}
        }
        if not allowed:
            return []
        # Rank them all, then keep the tagged ones: a tag may hold few of the top chunks.
        ranking = self.retriever(retriever).rank(query, len(self.chunks))
        return to_hits(self.chunks, [(row, s) for row, s in ranking if row in allowed][:k])

    def tags(self) -> set[str]:
        """Every tag of the indexed notes."""
        return {tag for chunk in self.chunks for tag in chunk.tags}

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
            version = _version_dir(index_dir, pointer)
            manifest = json.loads((version / "config.json").read_text(encoding="utf-8"))
            _check_manifest(manifest)
            notes_dir = manifest.get("notes_dir")
            config = IndexConfig(**manifest["index"])
            chunk_config = ChunkConfig(
                **{**manifest["chunking"], "suffixes": tuple(manifest["chunking"]["suffixes"])}
            )
            with open(version / "chunks.jsonl", encoding="utf-8") as handle:
                chunks = [_chunk(json.loads(line)) for line in handle]
            stored = manifest.get("vectors")
            if stored and file_sha256(version / "vectors.faiss") != stored["sha256"]:
                raise SettingsError("vectors.faiss no coincide con su suma de control")
            vectors = faiss.read_index(str(version / "vectors.faiss"))
            embed_keys = json.loads((version / "embed_keys.json").read_text(encoding="utf-8"))
            if not isinstance(embed_keys, list) or not all(isinstance(k, str) for k in embed_keys):
                raise SettingsError("embed_keys.json no es una lista de claves")
            if not vectors.ntotal == len(chunks) == len(embed_keys) == manifest["n_chunks"]:
                raise SettingsError(f"{vectors.ntotal} vectores para {len(chunks)} fragmentos")
            if stored and vectors.d != stored["dim"]:
                raise SettingsError(f"vectores de dimensión {vectors.d}, no {stored['dim']}")
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            detail = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
            raise IndexCorruptError(
                f"El índice en {index_dir} está dañado ({detail}): "
                + reindex_hint(index_dir, notes_dir)
            ) from None
        return cls(index_dir, config, chunk_config, chunks, vectors, manifest, embed_keys)


def _version_dir(index_dir: Path, pointer: Path) -> Path:
    """The version folder CURRENT names: a bare name inside ``index_dir``, never a path
    (an absolute one, "../x" or a link would send the load anywhere on the disk)."""
    name = pointer.read_text(encoding="utf-8").strip()
    if not _VERSION_NAME.fullmatch(name):
        raise SettingsError(f"{CURRENT} no nombra una versión ({name[:60]!r})")
    version = index_dir / name
    if version.is_symlink() or not resolves_inside(version, index_dir):
        raise SettingsError(f"{CURRENT} nombra {name}, que no está dentro de la carpeta")
    return version


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# A dataclass field's annotation (a string, under `from __future__ import annotations`)
# -> the JSON values it accepts; other annotations (Literal choices, tuples) are checked
# by the config's own __post_init__.
_JSON_TYPES = {
    "str": lambda v: isinstance(v, str),
    "int": _is_int,
    "float": lambda v: _is_int(v) or isinstance(v, float),
    "bool": lambda v: isinstance(v, bool),
    "tuple[str, ...]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}


def _check_fields(record, cls, where: str) -> None:
    """Every key of ``record`` is a field of dataclass ``cls`` with a value of its type."""
    if not isinstance(record, dict):
        raise SettingsError(f"{where} no es un objeto")
    fields = cls.__dataclass_fields__
    for key, value in record.items():
        if key not in fields:
            raise SettingsError(f"{where}: campo desconocido {key!r}")
        accepts = _JSON_TYPES.get(str(fields[key].type))
        if accepts is not None and not accepts(value):
            raise SettingsError(f"{where}.{key} no vale {json.dumps(value)[:40]}")


def _check_manifest(manifest) -> None:
    """config.json as load and build read it, field by field: valid JSON of another shape
    ([1, 2, 3], a string for a number) fails here, by name, rather than deep in a search."""
    if not isinstance(manifest, dict):
        raise SettingsError(f"config.json no es un objeto JSON ({type(manifest).__name__})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SettingsError(f"formato {manifest.get('format_version')!r}")
    if not _is_int(manifest.get("n_chunks")) or manifest["n_chunks"] < 0:
        raise SettingsError("n_chunks no es un número de fragmentos")
    if not isinstance(manifest.get("notes_dir", ""), (str, type(None))):
        raise SettingsError("notes_dir no es una ruta")
    _check_fields(manifest.get("index"), IndexConfig, "index")
    _check_fields(manifest.get("chunking"), ChunkConfig, "chunking")
    suffixes = manifest["chunking"].get("suffixes")
    if not isinstance(suffixes, list) or not all(isinstance(x, str) for x in suffixes):
        raise SettingsError("chunking.suffixes no es una lista de extensiones")
    notes = manifest.get("notes")
    if not isinstance(notes, dict) or not all(
        isinstance(note, dict)
        and isinstance(note.get("sha256"), str)
        and _is_int(note.get("chunks"))
        for note in notes.values()
    ):
        raise SettingsError("notes no describe las notas indexadas")
    vectors = manifest.get("vectors")  # absent in indexes built before it was recorded
    if vectors is not None and not (
        isinstance(vectors, dict)
        and _is_int(vectors.get("dim"))
        and vectors["dim"] > 0
        and isinstance(vectors.get("sha256"), str)
    ):
        raise SettingsError("vectors no tiene dim y sha256")


def _chunk(record) -> Chunk:
    _check_fields(record, Chunk, "chunks.jsonl")
    return Chunk.from_dict(record)


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


def check_index_dir(index_dir: str | Path, notes_dir: str | Path | None = None) -> Path:
    """The index folder, created if missing, once it is known the build can write there;
    a one-line AssistantError otherwise: a path through a regular file
    (``notes/a.md/idx``), one that cannot be created (``/proc/idx``), a folder that holds
    other things, or one inside the notes folder (the notes are never written to). Called
    by every build, and by the app at start so that a bad --index fails before anything
    else is loaded."""
    index_dir = Path(index_dir).expanduser()
    if index_dir.exists() and not index_dir.is_dir():
        raise AssistantError(f"La ruta del índice no es una carpeta: {index_dir}")
    blocking = next((p for p in index_dir.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise AssistantError(
            f"La ruta del índice {index_dir} pasa por {blocking}, que es un archivo y no una "
            "carpeta: elige otra ruta para --index"
        )
    if notes_dir is not None and resolves_inside(index_dir, notes_dir):
        raise AssistantError(
            f"El índice no puede guardarse dentro de la carpeta de notas ({notes_dir}): "
            "elige una ruta de --index fuera de ella"
        )
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        probe = index_dir / f".tmp-probe-{uuid.uuid4().hex[:8]}"
        probe.mkdir()  # a build writes its version in a folder like this one
        probe.rmdir()
    except OSError as err:
        raise AssistantError(
            f"No se puede escribir el índice en {index_dir} ({err.strerror}): elige otra "
            "ruta para --index"
        ) from None
    _check_index_contents(index_dir)
    return index_dir


def _check_index_contents(index_dir: Path) -> None:
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


def _reusable(
    previous: NotesIndex | None, embedder_name: str, warnings: list[str]
) -> TypeGuard[NotesIndex]:
    """Whether the previous version's vectors may be copied into the new one. Its load
    checked them against the manifest's checksum and dimension; an index from before the
    checksum has none, so its dimension is checked against the embedder's (loading the
    model once: the version this build writes carries the checksum)."""
    if previous is None or previous.config.embedder != embedder_name:
        return False
    if "vectors" in previous.manifest:
        return True
    if previous.vectors.d == get_embedder(embedder_name).dim:
        return True
    warnings.append(
        f"los vectores del índice anterior en {previous.path} no tienen la dimensión de "
        f"{embedder_name}; se recalculan"
    )
    return False


# Texts per embedder call: large enough for a batched embedder's length buckets, small
# enough that the progress bar moves every few seconds.
EMBED_BATCH = 32


def embed_missing(
    texts_by_key: dict[str, str], known: dict[str, np.ndarray], embedder_name: str, progress: bool
) -> dict[str, np.ndarray]:
    """Embed the texts whose key has no vector yet; the model loads only if needed (a large
    build on the embedder's bulk engine, ``bulk_embedder``)."""
    # Longest first, so each batch holds texts of similar length (an embedder that pads a
    # batch pads little) and the time-left estimate starts pessimistic, not optimistic.
    missing = sorted(
        (key for key in texts_by_key if key not in known), key=lambda k: -len(texts_by_key[k])
    )
    if not missing:
        return {}
    embedder = bulk_embedder(embedder_name, len(missing))
    batch = EMBED_BATCH
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
    loaded = load_notes(notes_dir, chunk_config or ChunkConfig())
    check_index_dir(index_dir, notes_dir)
    warnings = list(loaded.warnings)
    with _build_lock(index_dir):
        previous = _previous(index_dir, warnings)
        if previous is not None:
            chunk_config = chunk_config or previous.chunk_config
            index_config = index_config or IndexConfig(embedder=previous.config.embedder)
        chunk_config = chunk_config or ChunkConfig()
        index_config = index_config or IndexConfig()
        chunks = chunk_notes(loaded.notes, chunk_config)
        images = ImageReading()
        if chunk_config.ocr:
            images = read_note_images(loaded.notes, notes_dir, cache_dir or default_cache_dir())
            chunks += image_chunks(loaded.notes, images.texts)
            # An image a note embeds is no unsupported file: its text is read.
            taken = {unsupported_warning(image) for image in images.images}
            warnings = [w for w in warnings if w not in taken] + images.warnings
        texts_by_key = {
            embedding_key(index_config.embedder, c.embed_text()): c.embed_text() for c in chunks
        }

        known: dict[str, np.ndarray] = {}
        if _reusable(previous, index_config.embedder, warnings):
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
        images=len(images.texts),
        ocr_read=images.read,
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
    from corpus.paths import default_index_dir

    if index_dir is None and notes_dir is None:
        raise SettingsError("Indica la carpeta del índice o la de las notas")
    # cast: with no index_dir, notes_dir is set (checked above).
    index_dir = (
        Path(index_dir) if index_dir else default_index_dir(Path(cast(str | Path, notes_dir)))
    )
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
        # What the load checks the vectors against: a file of another dimension, or
        # random vectors of the right one, must not pass for this version's.
        manifest = {
            **manifest,
            "vectors": {"dim": vectors.d, "sha256": file_sha256(staging / "vectors.faiss")},
        }
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
