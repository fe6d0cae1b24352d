"""An Obsidian vault read as notes with no conversion (issue 27, item 2, the corpus side):
front matter out of the chunks and kept as tags, links indexed as their visible text,
Obsidian's own folders ignored, a broken front matter a warning and not a lost note."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from corpus.chunking import chunk_notes
from corpus.loader import load_notes
from corpus.markdown import find_sections, plain_text, read_front_matter
from index.store import NotesIndex, build_index

VAULT = Path(__file__).parent / "data" / "vault"


@pytest.fixture
def vault(tmp_path) -> Path:
    copy = tmp_path / "vault"
    shutil.copytree(VAULT, copy)
    return copy


def test_obsidian_folders_are_not_notes_and_a_broken_front_matter_is_one_warning(vault):
    loaded = load_notes(vault)
    assert sorted(n.source for n in loaded.notes) == [
        "Atención.md",
        "Rota.md",
        "Temas/Embeddings.md",
    ]
    (warning,) = loaded.warnings
    assert warning.startswith("Rota.md: la cabecera YAML no se pudo leer")
    assert warning.endswith("se indexa como texto")


def test_front_matter_is_read_with_its_tags_and_aliases_and_kept_out_of_the_chunks(vault):
    text = (vault / "Atención.md").read_text(encoding="utf-8")
    front = read_front_matter(text)
    assert front.title == "Mecanismo de atención"
    assert front.tags == ("nlp", "transformers")
    assert front.aliases == ("Attention", "Autoatención")
    assert text[front.end :].startswith("# Atención")
    assert read_front_matter("tags: a\n# Sin cabecera").end == 0
    assert read_front_matter("---\ntags: nlp\n---\n# T\n").tags == ("nlp",)

    chunks = chunk_notes(load_notes(vault).notes)
    by_note = {c.source: [] for c in chunks}
    for chunk in chunks:
        by_note[chunk.source].append(chunk)
    for chunk in by_note["Atención.md"] + by_note["Temas/Embeddings.md"]:
        assert "tags:" not in chunk.text and "aliases:" not in chunk.text
    assert {c.tags for c in by_note["Atención.md"]} == {("nlp", "transformers")}
    assert {c.tags for c in by_note["Temas/Embeddings.md"]} == {("nlp",)}
    # A note whose front matter cannot be read keeps all its text, and no tags.
    broken = by_note["Rota.md"]
    assert broken[0].text.startswith("---\ntags: [sin cerrar")
    assert {c.tags for c in broken} == {()}


def test_sections_start_after_the_front_matter_and_offsets_stay_true(vault):
    note = next(n for n in load_notes(vault).notes if n.source == "Atención.md")
    sections = find_sections(note.text)
    assert sections[0].start == read_front_matter(note.text).end
    assert sections[0].path == ("Atención",) and sections[-1].end == len(note.text)
    for chunk in chunk_notes([note]):
        assert note.text[chunk.start : chunk.end] == chunk.text


@pytest.mark.parametrize(
    "markdown, shown",
    [
        ("ver [[Historia del Transformer]].", "ver Historia del Transformer."),
        ("en [[Embeddings#Contextuales|embeddings contextuales]]", "en embeddings contextuales"),
        ("en [[Embeddings#Contextuales]]", "en Embeddings > Contextuales"),
        ("la [[#Contextuales]] de arriba", "la Contextuales de arriba"),
        ("![[diagrama-atencion.png]] Figura", " Figura"),
        ("un **[[Atención]]** clave", "un Atención clave"),
    ],
)
def test_links_are_indexed_as_their_visible_text(markdown, shown):
    assert plain_text(markdown) == shown


def test_a_vault_is_searchable_by_a_links_alias_and_never_by_obsidians_files(
    vault, tmp_path, fake_embedder, fake_config
):
    build_index(vault, tmp_path / "index", index_config=fake_config)
    index = NotesIndex.load(tmp_path / "index")
    hits = index.search("embeddings contextuales", k=3)
    assert hits[0].chunk.source in {"Atención.md", "Temas/Embeddings.md"}
    assert all("zorblax" not in c.text for c in index.chunks)
    assert all(not c.source.startswith(".") for c in index.chunks)
    # The tags survive the index's round trip through chunks.jsonl.
    reloaded = NotesIndex.load(tmp_path / "index")
    assert {c.tags for c in reloaded.chunks if c.source == "Atención.md"} == {
        ("nlp", "transformers")
    }
