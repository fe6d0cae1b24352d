"""The map of the notes (assistant/web/notes_map.py) and its panels (map_desk.py), without a
browser: the tree follows the headings, a section's text is its chunks' (overlaps once),
a key term links exactly the sections that hold it and is one the sections share, a
note's tags ride along; a clicked section shows its text, its deck cards and its
question, a term its sections; and the StudyApp callbacks over the default notes."""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import replace

import gradio as gr
import pytest

import app as study_app
from assistant.study.cards import build_cards
from assistant.study.deck import Deck
from assistant.web.map_desk import GONE, MapDesk, map_html, section_cards
from assistant.web.notes_map import MapConfig, build_map, term_keys
from corpus.chunking import chunk_notes
from corpus.config import ChunkConfig
from corpus.errors import SettingsError
from corpus.loader import load_notes
from index.store import build_index
from tests.conftest import NOTES

ATENCION = """---
tags: [nlp, transformers]
---
# Atención

La **atención** pondera los tokens de la entrada.

## Self-Attention

En *Self-Attention* cada token mira a los demás. Lo usa **BERT**.

### Cálculo

Los pesos salen de un softmax sobre $QK^T$, escalado.

## Multi-head

Varias cabezas de *Self-Attention* en paralelo, como en BERT.
"""

RNN = """Texto antes de los títulos, sobre redes recurrentes.

# Recurrentes

Una **RNN** procesa la secuencia paso a paso; **BERT** no.

# Problemas <b>graves</b>

El gradiente se desvanece en una RNN larga.
"""


@pytest.fixture
def small(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "atencion.md").write_text(ATENCION, encoding="utf-8")
    (notes / "rnn.md").write_text(RNN, encoding="utf-8")
    return notes


def small_map(notes, config=None):
    return build_map(chunk_notes(load_notes(notes).notes), config)


def section(source, heading):
    return f"section:{source}#{heading}"


PARENTS = [  # (node, the node it hangs from)
    (section("atencion.md", "Atención > Self-Attention"), "note:atencion.md"),
    (
        section("atencion.md", "Atención > Self-Attention > Cálculo"),
        section("atencion.md", "Atención > Self-Attention"),
    ),
    (section("atencion.md", "Atención > Multi-head"), "note:atencion.md"),
    (section("rnn.md", "Recurrentes"), "note:rnn.md"),
    (section("rnn.md", "Problemas <b>graves</b>"), "note:rnn.md"),
]


@pytest.mark.parametrize(("node_id", "parent"), PARENTS)
def test_sections_hang_from_their_heading(small, node_id, parent):
    notes_map = small_map(small)
    node = notes_map.node(node_id)
    assert node is not None and node.kind == "section"
    assert node.parent == parent
    assert ("contains", parent, node_id) in {(e.kind, e.start, e.end) for e in notes_map.edges}


def test_a_note_under_one_heading_is_that_heading_and_carries_its_tags(small):
    notes_map = small_map(small)
    titled = notes_map.node("note:atencion.md")
    assert (titled.label, titled.heading, titled.tags) == (
        "Atención",
        "Atención",
        ("nlp", "transformers"),
    )
    assert "pondera los tokens" in titled.text
    assert notes_map.node(section("atencion.md", "Atención")) is None  # the note itself
    # Two top headings: the note is its file, its text what comes before them.
    untitled = notes_map.node("note:rnn.md")
    assert (untitled.label, untitled.heading, untitled.tags) == ("rnn", "", ())
    assert untitled.text.startswith("Texto antes de los títulos")
    assert "#nlp #transformers" in notes_map.to_json()["nodes"][0]["title"]


@pytest.mark.parametrize(
    ("term", "holders"),
    [
        ("term:self-attention", {"Atención > Self-Attention", "Atención > Multi-head"}),
        ("term:bert", {"Atención > Self-Attention", "Atención > Multi-head", "Recurrentes"}),
        ("term:rnn", {"Recurrentes", "Problemas <b>graves</b>"}),
    ],
)
def test_a_shared_term_links_the_sections_that_hold_it(small, term, holders):
    notes_map = small_map(small)
    assert notes_map.node(term) is not None
    linked = {n.heading for n in notes_map.linked(term, "section")}
    assert linked == holders
    assert all(e.kind == "mentions" for e in notes_map.edges if e.start == term)


def test_a_term_of_one_section_is_no_key_term(small):
    ids = {node.id for node in small_map(small).nodes}
    assert "term:softmax" not in ids and "term:atencion" not in ids  # one section each
    assert not any(node_id.startswith("term:qk") for node_id in ids)  # a formula's TeX


def test_the_terms_in_most_sections_come_first_up_to_max_terms(small):
    terms = [n.id for n in small_map(small, MapConfig(max_terms=1)).nodes if n.kind == "term"]
    assert terms == ["term:bert"]
    assert [n for n in small_map(small, MapConfig(max_terms=0)).nodes if n.kind == "term"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_terms", -1),
        ("min_sections", 1),
        ("max_share", 0),
        ("max_share", 1.5),
        ("max_words", 0),
    ],
)
def test_map_config_names_the_bad_field(field, value):
    with pytest.raises(SettingsError, match=field):
        MapConfig(**{field: value})


def test_a_long_section_is_its_chunks_with_each_overlap_once(tmp_path):
    body = " ".join(f"Frase número {i} sobre la atención escalada." for i in range(80))
    text = f"# Largo\n\n## Parte\n\n{body}\n"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "largo.md").write_text(text, encoding="utf-8")
    config = ChunkConfig(chunk_size=300, chunk_overlap=100)
    chunks = chunk_notes(load_notes(notes, config).notes, config)
    part = [c for c in chunks if c.heading == "Largo > Parte"]
    assert len(part) > 3 and any(b.start < a.end for a, b in zip(part, part[1:]))  # overlaps
    node = build_map(chunks).node(section("largo.md", "Largo > Parte"))
    assert node.text == text[part[0].start : part[-1].end]


@pytest.fixture(scope="module")
def default_chunks():
    return chunk_notes(load_notes(NOTES).notes)


def test_the_default_notes_map_every_section_and_a_readable_number_of_terms(default_chunks):
    notes_map = build_map(default_chunks)
    kinds = [node.kind for node in notes_map.nodes]
    assert kinds.count("note") == 2
    headings = {(c.source, c.heading) for c in default_chunks if not c.image}
    shown = {(n.source, n.heading) for n in notes_map.nodes if n.kind != "term"}
    assert headings <= shown | {(c.source, "") for c in default_chunks}
    assert 10 <= kinds.count("term") <= MapConfig().max_terms
    # Each term's sections hold it in their text; no more than max_share of them all.
    texts = {n.id: n.text for n in notes_map.nodes if n.kind != "term"}
    most = math.ceil(MapConfig().max_share * len(texts))
    for term in (n for n in notes_map.nodes if n.kind == "term"):
        key = term.id.removeprefix("term:")
        holders = [e.end for e in notes_map.edges if e.start == term.id]
        assert 2 <= len(holders) <= most, term.label
        for holder in holders:
            words = " ".join(term_keys(texts[holder]))
            assert f" {key} " in f" {words} ", (term.label, holder)
    labels = {n.label for n in notes_map.nodes if n.kind == "term"}
    assert {"BERT", "Self-Attention", "RLHF"} <= labels


def test_the_graph_json_is_escaped_in_the_page(small):
    notes_map = small_map(small)
    page = map_html(notes_map)
    assert "<b>graves" not in page and "&lt;b&gt;graves" in page
    graph = json.loads(html.unescape(re.search(r'data-graph="([^"]*)"', page).group(1)))
    assert {node["group"] for node in graph["nodes"]} == {"note", "section", "term"}
    bert = next(node for node in graph["nodes"] if node["id"] == "term:bert")
    assert bert["value"] == 3  # its sections: the larger its name
    assert {edge["kind"] for edge in graph["edges"]} == {"contains", "mentions"}
    assert "términos clave" in page
    assert "Aún no hay notas" in map_html(build_map([]))


@pytest.fixture(scope="module")
def deck(tmp_path_factory, default_chunks):
    path = tmp_path_factory.mktemp("map-deck") / "deck.sqlite"
    with Deck.open(path, create=True) as opened:
        opened.sync(build_cards(load_notes(NOTES).notes))
    return path


SELF_ATTENTION = section(
    "preguntas_nlp_llm.md", "Preguntas y respuestas sobre NLP y LLMs > 13. ¿Qué es Self-Attention?"
)


def test_a_section_panel_shows_its_text_cards_terms_and_question(default_chunks, deck):
    shown = MapDesk().open(SELF_ATTENTION, default_chunks, NOTES, deck)
    assert shown.question == "¿Qué es Self-Attention?"
    assert f'data-node="{SELF_ATTENTION}"' in html.unescape(shown.html)
    assert "una variante del mecanismo de atención" in shown.html
    assert "<h2>" not in shown.html  # the heading is the panel's title, not repeated
    cards = section_cards(
        deck,
        "preguntas_nlp_llm.md",
        "Preguntas y respuestas sobre NLP y LLMs > 13. ¿Qué es Self-Attention?",
    )
    assert cards and f"Tarjetas de esta sección ({len(cards)})" in shown.html
    assert all(card.heading.endswith("13. ¿Qué es Self-Attention?") for card in cards)
    assert shown.html.count('class="map-card"') == len(cards)
    assert 'class="map-chip term" data-node="term:self-attention"' in shown.html


@pytest.mark.parametrize(
    ("node_id", "question"),
    [
        ("term:bert", "¿Qué es BERT?"),
        (
            section("teacher_forcing.md", "Teacher Forcing en Modelos de Lenguaje > Ventajas"),
            "¿Cuáles son las ventajas de Teacher Forcing en Modelos de Lenguaje?",
        ),
        (
            section("teacher_forcing.md", "Teacher Forcing en Modelos de Lenguaje > Aplicaciones"),
            "¿Cuáles son las aplicaciones de Teacher Forcing en Modelos de Lenguaje?",
        ),
        (
            "note:teacher_forcing.md",
            "¿Qué dicen mis notas sobre «Teacher Forcing en Modelos de Lenguaje»?",
        ),
    ],
)
def test_each_node_asks_its_question(default_chunks, deck, node_id, question):
    assert MapDesk().open(node_id, default_chunks, NOTES, deck).question == question


def test_a_heading_that_is_no_question_asks_about_its_title(small, tmp_path):
    chunks = chunk_notes(load_notes(small).notes)
    desk, deck = MapDesk(), tmp_path / "none.sqlite"
    shown = desk.open(section("atencion.md", "Atención > Multi-head"), chunks, small, deck)
    assert shown.question == "¿Qué dicen mis notas sobre «Multi-head» en «Atención»?"
    shown = desk.open(section("rnn.md", "Problemas <b>graves</b>"), chunks, small, deck)
    assert "<b>" not in shown.html and "Problemas &lt;b&gt;graves" in shown.html


def test_a_term_panel_lists_the_sections_that_share_it(default_chunks, deck):
    shown = MapDesk().open("term:bert", default_chunks, NOTES, deck)
    assert "Término · BERT" in shown.html
    chips = re.findall(r'class="map-chip section"', shown.html)
    assert len(chips) >= 5 and f"Aparece en {len(chips)} secciones" in shown.html


def test_a_node_gone_from_the_notes_says_so(default_chunks, deck):
    shown = MapDesk().open("section:borrada.md#Nada", default_chunks, NOTES, deck)
    assert GONE in shown.html and shown.question == ""


def test_no_deck_yet_is_no_cards(default_chunks, tmp_path):
    shown = MapDesk().open(SELF_ATTENTION, default_chunks, NOTES, tmp_path / "none.sqlite")
    assert "Esta sección no tiene tarjetas." in shown.html


def test_the_map_is_built_once_per_set_of_chunks(default_chunks):
    desk = MapDesk()
    first = desk.notes_map(default_chunks)
    assert desk.notes_map(list(default_chunks)) is first
    assert desk.notes_map(default_chunks[:10]) is not first


def test_the_app_callbacks_draw_open_and_ask(notes_copy, tmp_path, fake_embedder, fake_config):
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    app = study_app.StudyApp(
        notes_copy,
        tmp_path / "index",
        deck_path=tmp_path / "deck.sqlite",
        study_dir=tmp_path / "study",
        chat_dir=tmp_path / "chat",
        experiments_dir=tmp_path / "experiments",
    )
    assert 'class="notes-map" data-graph=' in app.map_view()
    panel, ask, question = app.map_open(SELF_ATTENTION)
    assert "Tarjetas de esta sección" in panel and question == "¿Qué es Self-Attention?"
    assert ask.visible and ask.value == "Preguntar en el chat: ¿Qué es Self-Attention?"
    assert app.map_ask(question) == question
    assert app.map_open("") == (gr.skip(), gr.skip(), gr.skip())  # map.js empties it first
    drawn, emptied, hidden, no_question = app.map_reset()
    assert drawn == app.map_view() and (emptied, no_question) == ("", "")
    assert hidden.visible is False


def test_an_images_text_counts_for_the_section_that_shows_it(small):
    chunks = chunk_notes(load_notes(small).notes)
    multi = next(c for c in chunks if c.heading == "Atención > Multi-head")
    image = replace(
        multi,
        id="image",
        heading="imagen en atencion",
        text="![[cabezas.png]]\n\nCada cabeza usa su propia RNN.",
        start=multi.start + 5,
        end=multi.start + 6,
        image="cabezas.png",
    )
    notes_map = build_map([*chunks, image])
    linked = {n.heading for n in notes_map.linked("term:rnn", "section")}
    assert linked == {"Atención > Multi-head", "Recurrentes", "Problemas <b>graves</b>"}
    node = notes_map.node(section("atencion.md", "Atención > Multi-head"))
    assert "cabezas.png" not in node.text  # its own text stays the note's
