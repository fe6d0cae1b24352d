"""The on-disk index: retrieval properties, incremental re-indexing, atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.errors import AssistantError
from corpus.records import Chunk
from index import embedders
from index.config import IndexConfig
from index.errors import IndexCorruptError, IndexNotBuiltError
from index.store import CURRENT, BuildReport, NotesIndex, build_index
from tests.conftest import ROOT
from tests.fakes import HANGING_BUILD, HashEmbedder


@pytest.fixture
def built(notes_copy, tmp_path, fake_embedder, fake_config):
    index_dir = tmp_path / "index"
    build_index(notes_copy, index_dir, index_config=fake_config)
    return notes_copy, index_dir


@pytest.mark.parametrize("retriever", ["dense", "bm25", "fused"])
def test_a_chunks_own_text_retrieves_it_first(built, retriever):
    _, index_dir = built
    index = NotesIndex.load(index_dir)
    misses = [
        chunk.id
        for chunk in index.chunks
        if index.search(chunk.embed_text(), k=1, retriever=retriever)[0].chunk.id != chunk.id
    ]
    assert misses == []


def test_reindexing_an_unchanged_folder_embeds_nothing(built, fake_embedder):
    notes, index_dir = built
    before = NotesIndex.load(index_dir).chunks
    fake_embedder.passages_embedded = 0
    report = build_index(notes, index_dir)
    assert fake_embedder.passages_embedded == 0
    assert report.embedded == 0 and report.reused == len(before)
    assert report.added == report.changed == report.removed == []
    assert [c.id for c in NotesIndex.load(index_dir).chunks] == [c.id for c in before]


def test_reindexing_embeds_only_changed_chunks_and_drops_deleted_notes(
    built, fake_embedder, tmp_path
):
    notes, index_dir = built
    (notes / "teacher_forcing.md").unlink()
    with open(notes / "preguntas_nlp_llm.md", "a", encoding="utf-8") as handle:
        # The note ends with a newline: the appended section leaves the last one unchanged.
        handle.write("## 84. ¿Qué es un token?\n\nUn token es una unidad de texto.\n")
    (notes / "nueva.md").write_text("# Nueva\n\nUna nota nueva sobre RAG.\n", encoding="utf-8")
    fake_embedder.passages_embedded = 0

    report = build_index(notes, index_dir)

    assert report.removed == ["teacher_forcing.md"]
    assert report.changed == ["preguntas_nlp_llm.md"] and report.added == ["nueva.md"]
    assert fake_embedder.passages_embedded == report.embedded == 2
    index = NotesIndex.load(index_dir)
    assert {c.source for c in index.chunks} == {"preguntas_nlp_llm.md", "nueva.md"}
    assert index.search("¿Qué es un token?", k=1)[0].chunk.text.endswith("unidad de texto.\n")


def test_a_change_in_the_text_given_to_the_embedder_re_embeds(built, fake_embedder, monkeypatch):
    notes, index_dir = built
    original = Chunk.embed_text
    monkeypatch.setattr(Chunk, "embed_text", lambda chunk: "v2 " + original(chunk))
    fake_embedder.passages_embedded = 0
    report = build_index(notes, index_dir)
    assert report.embedded == report.chunks == fake_embedder.passages_embedded


def test_rebuilding_keeps_the_embedder_but_takes_current_search_defaults(
    notes_copy, tmp_path, fake_embedder
):
    index_dir = tmp_path / "index"
    build_index(
        notes_copy, index_dir, index_config=IndexConfig(embedder="fake-hash", dense_weight=0.9)
    )
    build_index(notes_copy, index_dir)
    config = NotesIndex.load(index_dir).config
    assert config.embedder == "fake-hash" and config.dense_weight == IndexConfig().dense_weight


def test_embeddings_are_reused_from_the_cache_across_indexes(built, fake_embedder, tmp_path):
    notes, _ = built
    fake_embedder.passages_embedded = 0
    report = build_index(notes, tmp_path / "second", index_config=IndexConfig(embedder="fake-hash"))
    assert fake_embedder.passages_embedded == 0 and report.embedded == 0


def test_a_failed_write_leaves_the_previous_index_intact(built, monkeypatch):
    notes, index_dir = built
    expected = [h.chunk.id for h in NotesIndex.load(index_dir).search("atención", k=5)]
    (notes / "extra.md").write_text("# Extra\n\nTexto nuevo.\n", encoding="utf-8")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C during the write looks like

    monkeypatch.setattr("index.store.faiss.write_index", crash)
    with pytest.raises(KeyboardInterrupt):
        build_index(notes, index_dir)

    index = NotesIndex.load(index_dir)
    assert [h.chunk.id for h in index.search("atención", k=5)] == expected
    assert "extra.md" not in {c.source for c in index.chunks}
    assert not list(index_dir.glob(".tmp-*"))


def test_a_killed_build_leaves_the_previous_index_loadable(built):
    notes, index_dir = built
    expected = [h.chunk.id for h in NotesIndex.load(index_dir).search("atención", k=5)]
    (notes / "extra.md").write_text("# Extra\n\nTexto nuevo.\n", encoding="utf-8")
    script = HANGING_BUILD.format(root=str(ROOT), notes=str(notes), index=str(index_dir))
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "STUDY_ASSISTANT_CACHE": str(index_dir.parent / "child-cache")},
    )
    try:
        assert child.stdout.readline().strip() == "WRITING"
        assert list(index_dir.glob(".tmp-*/vectors.faiss")), "the child was not mid-write"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    index = NotesIndex.load(index_dir)
    assert [h.chunk.id for h in index.search("atención", k=5)] == expected
    report = build_index(notes, index_dir)  # the next build succeeds and tidies up
    assert report.added == ["extra.md"]
    assert not list(index_dir.glob(".tmp-*")) and len(list(index_dir.glob("v-*"))) == 1


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


CORRUPTIONS = {
    "no_current_pointer": lambda v: (v.parent / CURRENT).unlink(),
    "pointer_to_missing_version": lambda v: (v.parent / CURRENT).write_text("v-nada"),
    "config_not_json": lambda v: (v / "config.json").write_text("{roto"),
    "config_missing_key": lambda v: (v / "config.json").write_text(
        json.dumps({"format_version": 2})
    ),
    "future_format": lambda v: (v / "config.json").write_text(
        (v / "config.json").read_text().replace('"format_version": 2', '"format_version": 99')
    ),
    "chunks_garbled": lambda v: (v / "chunks.jsonl").write_text("no es json\n"),
    "chunk_missing": lambda v: (v / "chunks.jsonl").write_text(
        "".join((v / "chunks.jsonl").read_text().splitlines(keepends=True)[1:])
    ),
    "vectors_truncated": lambda v: _truncate(v / "vectors.faiss"),
    "vectors_missing": lambda v: (v / "vectors.faiss").unlink(),
    "embed_keys_missing": lambda v: (v / "embed_keys.json").unlink(),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupted_index_says_to_reindex(built, corruption):
    _, index_dir = built
    version = index_dir / (index_dir / CURRENT).read_text()
    CORRUPTIONS[corruption](version)
    with pytest.raises(IndexCorruptError, match="vuelve a indexar") as raised:
        NotesIndex.load(index_dir)
    assert "\n" not in str(raised.value)


def test_a_corrupted_index_is_rebuilt_by_the_next_build(built):
    notes, index_dir = built
    (index_dir / (index_dir / CURRENT).read_text() / "vectors.faiss").write_bytes(b"x")
    report = build_index(notes, index_dir)
    assert any("dañado" in w for w in report.warnings)
    assert NotesIndex.load(index_dir).chunks


def test_missing_index_is_not_built_error(tmp_path):
    with pytest.raises(IndexNotBuiltError, match="créalo"):
        NotesIndex.load(tmp_path / "nada")


def test_refuses_to_write_into_a_folder_that_is_not_an_index(notes_copy, tmp_path, fake_config):
    target = tmp_path / "mis_cosas"
    target.mkdir()
    (target / "tesis.docx").write_bytes(b"importante")
    with pytest.raises(AssistantError, match="no es una carpeta de índice"):
        build_index(notes_copy, target, index_config=fake_config)
    assert (target / "tesis.docx").read_bytes() == b"importante"


def test_the_index_folder_records_its_config(built):
    _, index_dir = built
    version = index_dir / (index_dir / CURRENT).read_text()
    manifest = json.loads((version / "config.json").read_text())
    assert manifest["index"]["embedder"] == "fake-hash"
    assert manifest["chunking"]["chunk_size"] > 0
    assert set(manifest["notes"]) == {"preguntas_nlp_llm.md", "teacher_forcing.md"}
    assert manifest["n_chunks"] == sum(n["chunks"] for n in manifest["notes"].values())


def test_a_rebuild_of_unchanged_notes_reports_that_nothing_was_embedded(built):
    notes, index_dir = built
    report = build_index(notes, index_dir)
    assert report.embedded == 0 and report.reused == report.chunks > 0
    assert not (report.added or report.changed or report.removed)
    assert report.seconds >= 0  # a duration, in seconds (benchmarks measure it)


def test_atomic_writes_leave_no_temp_file_and_the_usual_file_mode(tmp_path):
    from corpus.files import atomic_write_bytes

    target, plain = tmp_path / "results.json", tmp_path / "plain.json"
    plain.write_bytes(b"{}")  # what open() gives under this process's umask
    atomic_write_bytes(target, b'{"a": 1}')
    assert target.read_bytes() == b'{"a": 1}'
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.json", "results.json"]


class _CountingBulk(HashEmbedder):
    """The fake's vectors from another engine, counting what it embeds."""


def test_a_large_build_embeds_on_the_bulk_engine_and_a_small_one_on_the_named(
    notes_copy, tmp_path, fake_embedder, fake_config, monkeypatch
):
    bulk = _CountingBulk()
    monkeypatch.setitem(embedders.BULK_ENGINES, fake_embedder.name, lambda: bulk)
    monkeypatch.setattr(embedders, "BULK_MIN", 10)
    cache = tmp_path / "cache"  # nothing embedded before: every chunk is embedded here
    report = build_index(notes_copy, tmp_path / "index", index_config=fake_config, cache_dir=cache)
    assert report.embedded >= 10
    assert bulk.passages_embedded == report.embedded and fake_embedder.passages_embedded == 0

    # One new chunk: under BULK_MIN, embedded by the named embedder (no bulk load).
    (notes_copy / "nueva.md").write_text("# Nueva\n\nUna nota nueva sobre RAG.\n", "utf-8")
    bulk.passages_embedded = 0
    report = build_index(notes_copy, tmp_path / "index", cache_dir=cache)
    assert report.embedded == 1
    assert fake_embedder.passages_embedded == 1 and bulk.passages_embedded == 0
    # The bulk engine's vectors are stored under the named embedder: a search works.
    index = NotesIndex.load(tmp_path / "index")
    assert index.search("Una nota nueva sobre RAG.", k=1)[0].chunk.source == "nueva.md"


def test_a_bulk_engine_that_fails_to_load_falls_back_to_the_named_embedder(
    notes_copy, tmp_path, fake_embedder, fake_config, monkeypatch, caplog
):
    def broken():
        raise OSError("pesos dañados")

    monkeypatch.setitem(embedders.BULK_ENGINES, fake_embedder.name, broken)
    monkeypatch.setattr(embedders, "BULK_MIN", 1)
    report = build_index(
        notes_copy, tmp_path / "index", index_config=fake_config, cache_dir=tmp_path / "cache"
    )
    assert report.embedded > 0 and fake_embedder.passages_embedded == report.embedded
    assert "pesos dañados" in caplog.text


def test_the_build_summary_says_what_the_index_holds_then_what_changed():
    report = BuildReport("idx", notes=3, chunks=40, embedded=2, reused=38, seconds=1.26)
    assert report.summary() == "Índice listo: 3 notas, 40 fragmentos.\nSin cambios en las notas."
    report.added, report.removed, report.images = ["a.md"], ["b.md", "c.md"], 2
    assert report.summary() == (
        "Índice listo: 3 notas, 40 fragmentos (2 de imágenes).\nNuevas: a.md. Quitadas: b.md, c.md."
    )
    assert report.work() == "2 fragmentos calculados, 38 reutilizados, en 1.3 s"
