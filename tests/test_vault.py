"""An Obsidian vault read as notes with no conversion (issue 27, item 2, the corpus side):
front matter out of the chunks and kept as tags, links indexed as their visible text,
Obsidian's own folders ignored, a broken front matter a warning and not a lost note."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from corpus.chunking import chunk_notes
from corpus.loader import load_notes
from corpus.markdown import find_callouts, find_sections, plain_text, read_front_matter, split_tags
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


@pytest.mark.parametrize(
    "typed, question, tags",
    [
        ("¿Qué es la atención? #nlp", "¿Qué es la atención?", ("nlp",)),
        ("#curso/tema ¿y BERT? #nlp #nlp", "¿y BERT?", ("curso/tema", "nlp")),
        ("¿Qué es C#? Ver el paso #1", "¿Qué es C#? Ver el paso #1", ()),
    ],
)
def test_tags_typed_in_a_question_are_split_from_it(typed, question, tags):
    assert split_tags(typed) == (question, tags)


def test_a_tag_limits_the_search_to_the_notes_tagged_with_it(
    vault, tmp_path, fake_embedder, fake_config
):
    build_index(vault, tmp_path / "index", index_config=fake_config)
    index = NotesIndex.load(tmp_path / "index")
    assert index.tags() == {"nlp", "transformers"}
    everywhere = index.search("cabecera YAML", k=3)
    assert everywhere[0].chunk.source == "Rota.md"  # untagged, found without a tag
    tagged = index.search("cabecera YAML", k=3, tags=("NLP",))
    assert tagged and all("nlp" in h.chunk.tags for h in tagged)
    both = index.search("embedding", k=10, tags=("nlp", "transformers"))
    assert both and {h.chunk.source for h in both} == {"Atención.md"}
    assert index.search("embedding", k=3, tags=("química",)) == []


@pytest.fixture
def quoting(vault, tmp_path, fake_embedder, fake_config):
    """The extractive assistant over the vault's index (fake embedder, overlap checker)."""
    from assistant.answer import Assistant, AssistantConfig
    from tests.fakes import OverlapChecker, OverlapSelector, open_policy

    build_index(vault, tmp_path / "index", index_config=fake_config)
    return Assistant(
        NotesIndex.load(tmp_path / "index"),
        None,
        OverlapChecker(),
        AssistantConfig(strategy="extractive", abstention=open_policy()),
        OverlapSelector(),
    )


def test_a_question_with_a_tag_no_note_has_abstains_and_says_why(quoting):
    from assistant.prompts import ABSTAIN

    assistant = quoting
    tagged = assistant.answer("¿Qué pondera la atención de los tokens? #transformers")
    assert tagged.citations and {c.source for c in tagged.citations} == {"Atención.md"}
    answer = assistant.answer("¿Qué son los embeddings contextuales? #química")
    assert answer.abstained and answer.answer == ABSTAIN
    assert "ninguna nota tiene la etiqueta #química" in answer.remarks
    assert answer.question == "¿Qué son los embeddings contextuales?"


def test_a_callout_is_a_chunk_of_its_own_with_its_title(vault):
    note = next(n for n in load_notes(vault).notes if n.source == "Atención.md")
    (callout,) = find_callouts(note.text)
    assert (callout.kind, callout.title) == ("note", "Idea clave")
    assert note.text[callout.start : callout.end] == (
        "> [!note] Idea clave\n> Cada token mira a todos los demás y decide a cuáles atender."
    )
    chunks = chunk_notes([note])
    pieces = [c.text.strip() for c in chunks]
    assert note.text[callout.start : callout.end] in pieces
    assert all(c.heading == "Atención" for c in chunks)
    assert (
        "".join(c.text for c in chunks).strip()
        == note.text[read_front_matter(note.text).end :].strip()
    )
    # In a code fence it is code, not a callout; a plain quote is not one either.
    assert find_callouts("```\n> [!note] x\n```\n> una cita\n") == []


def test_a_heading_over_a_callout_alone_stays_with_it():
    from corpus.records import Note

    text = "# Solo un aviso\n\n> [!warning] Cuidado\n> El examen es el lunes.\n\n# Otra\n\nTexto.\n"
    chunks = chunk_notes([Note("aviso.md", text, "0")])
    assert chunks[0].text.startswith("# Solo un aviso") and "[!warning]" in chunks[0].text
    assert [c.heading for c in chunks] == ["Solo un aviso", "Otra"]


def test_a_callout_is_drawn_as_a_titled_box_and_a_plain_quote_stays_a_quote():
    from assistant.web.markdown_html import markdown_html

    shown = markdown_html(
        "> [!tip] Idea clave\n> Cada token mira a **todos**.\n\n> una cita\n\n"
        "> [!warning]\n> <script>alert(1)</script>"
    )
    assert (
        '<blockquote class="callout callout-tip"><div class="callout-title">Idea clave</div>'
        in shown
    )
    assert "[!tip]" not in shown and "<strong>todos</strong>" in shown
    assert "<blockquote>\n<p>una cita</p>" in shown
    assert '<div class="callout-title">Warning</div>' in shown  # no title: its kind
    assert "<script>" not in shown and "&lt;script&gt;" in shown


def test_the_preview_draws_links_live_only_for_notes_of_the_folder():
    from assistant.web.markdown_html import markdown_html, note_names

    notes = note_names(["Atención.md", "Temas/Embeddings.md"])
    shown = markdown_html(
        "Ver [[Embeddings#Contextuales|embeddings contextuales]], [[Historia]], "
        '![[img.png]] y [[#Arriba]] y [[Embe<script>"]]',
        notes=notes,
        source="Atención.md",
    )
    assert (
        '<a class="wikilink" href="#" data-note="Temas/Embeddings.md" '
        'data-section="Contextuales">embeddings contextuales</a>'
    ) in shown
    assert '<span class="wikilink missing">Historia</span>' in shown
    assert '<span class="wikilink-embed">img.png</span>' in shown
    assert 'data-note="Atención.md" data-section="Arriba">Arriba</a>' in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    # Where the folder's notes are not known (a source card), a link is its text alone.
    assert (
        markdown_html("Ver [[Embeddings]]")
        == '<p>Ver <span class="wikilink">Embeddings</span></p>\n'
    )


def _png(path: Path, text: str = "Q K V") -> Path:
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (120, 40), "white")
    ImageDraw.Draw(image).text((8, 12), text, fill="black")
    image.save(path)
    return path


def test_only_images_inside_the_notes_folder_are_drawn(vault, tmp_path):
    from assistant.web.markdown_html import markdown_html
    from assistant.web.note_images import NoteImages

    _png(vault / "adjuntos" / "diagrama-atencion.png")
    outside = _png(tmp_path / "fuera.png")
    (vault / "enlace.png").symlink_to(outside)  # a link out of the folder
    images = NoteImages(vault, "Atención.md")
    assert images("diagrama-atencion.png").startswith("data:image/png;base64,")  # by name
    assert images("adjuntos/diagrama-atencion.png") == images("diagrama-atencion.png")
    for refused in (
        "enlace.png",
        "../fuera.png",
        str(outside),
        "https://example.com/a.png",
        "nada.png",
        "Atención.md",
    ):
        assert images(refused) is None, refused

    shown = markdown_html(
        "![[diagrama-atencion.png]] ![[enlace.png]] ![mapa](adjuntos/diagrama-atencion.png) "
        "![remota](https://example.com/a.png)",
        images=images,
    )
    assert shown.count('<img class="note-image" src="data:image/png;base64,') == 2
    assert '<span class="wikilink-embed">enlace.png</span>' in shown  # refused: its name
    assert "example.com" not in shown and "remota" in shown  # a remote image: its alt


def test_a_passage_shows_its_notes_tags_and_a_saved_chat_keeps_them(vault, quoting):
    from assistant.web.answer_html import sources_panel_html
    from assistant.web.chat_state import ChatSession
    from assistant.web.evidence import answer_evidence
    from assistant.web.note_images import NoteLinks

    assistant = quoting
    answer = assistant.answer("¿Qué pondera la atención de los tokens? #transformers")
    assert {c.tags for c in answer.citations} == {("nlp", "transformers")}
    _png(vault / "adjuntos" / "diagrama-atencion.png")
    links = NoteLinks(vault, {c.source for c in assistant.index.chunks})
    session = ChatSession()
    session.add_answer(answer, 1, answer_evidence(answer), links)
    panel = sources_panel_html(session.cards)
    assert "Atención.md — Atención · #nlp #transformers" in panel
    # Its [[links]] open their notes, its images are drawn: the folder's, and no other.
    assert 'data-note="Temas/Embeddings.md" data-section="Contextuales"' in panel
    assert '<span class="wikilink missing">Historia del Transformer</span>' in panel
    restored = ChatSession.from_json(session.to_json(), links)
    assert sources_panel_html(restored.cards) == panel
    # Without the folder (a chat restored elsewhere), a link is its text alone.
    bare = sources_panel_html(ChatSession.from_json(session.to_json()).cards)
    assert "data-note=" not in bare and '<span class="wikilink">' in bare
    printed = json.loads(json.dumps(answer.to_json()))  # what ask --json prints
    assert printed["citations"][0]["tags"] == ["nlp", "transformers"]
