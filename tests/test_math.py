"""Formulas in the notes (issue 27, item 4): ``$…$`` and ``$$…$$`` become the math elements
the page's KaTeX typesets, in every renderer (note preview and passages, chat, study
cards); prices stay text; no formula lets HTML through; the chunks and the index keep the
TeX as written; the Anki export writes ``\\(…\\)`` and ``\\[…\\]``. The typesetting itself
is tested in a browser (tests/test_math_browser.py)."""

from __future__ import annotations

import html
import re
import sqlite3
import zipfile
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from assistant.study.cards import Card
from assistant.study.export import anki_text, write_anki, write_csv
from assistant.web.answer_html import question_html, streaming_html
from assistant.web.card_html import passage_html as card_passage_html
from assistant.web.markdown_html import markdown_html, passage_html, text_html
from assistant.web.study_desk import Passage
from corpus.chunking import chunk_notes
from corpus.loader import load_notes
from index.store import NotesIndex, build_index
from tests.test_vault import VAULT

INLINE = r"\text{softmax}(QK^T/\sqrt{d_k})V"
DISPLAY = r"\text{Attention}(Q, K, V) = \text{softmax}\left(\frac{QK^T}{\sqrt{d_k}}\right)V"
MATH = re.compile(r'<span class="math (inline|display)">(.*?)</span>', re.S)


def formulas(rendered: str) -> list[tuple[str, str]]:
    """(inline|display, TeX) of every math element, its text unescaped as a browser reads it."""
    return [(kind, html.unescape(text)) for kind, text in MATH.findall(rendered)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("la norma $\\|x\\|_2$ de x", [("inline", "\\|x\\|_2")]),
        ("$$\\sum_i a_i$$", [("display", "\\sum_i a_i")]),
        ("dentro $$a*b*c$$ de la frase", [("display", "a*b*c")]),
        ("$a$ y $b$", [("inline", "a"), ("inline", "b")]),
        ("conjunto $\\{x \\mid x > 0\\}$", [("inline", "\\{x \\mid x > 0\\}")]),
        # Prices and lone dollars are text (Pandoc's rules).
        ("cuesta 5 $ y el otro 10 $", []),
        ("de $5 a $10 por hora", []),
        ("pagué 5$ y luego 10$", []),
        ("$ x $ no es fórmula", []),
        ("un \\$ escapado y otro\\$", []),
        ("", []),
    ],
)
def test_text_formulas_are_math_elements_and_prices_stay_text(text, expected):
    rendered = text_html(text)
    assert formulas(rendered) == expected
    if not expected:
        assert rendered == html.escape(text)


def test_a_note_keeps_its_tex_through_markdown():
    """Backslashes, braces, underscores and asterisks reach the element as written: no
    Markdown escape or emphasis eats them."""
    note = (VAULT / "Atención.md").read_text(encoding="utf-8")
    rendered = markdown_html(note)
    assert formulas(rendered) == [("inline", INLINE), ("display", DISPLAY)]
    assert "$" not in MATH.sub("", rendered)
    assert "<em>" not in rendered
    starred = markdown_html("el producto $a*b*c$ y $x_1 + y_1$, *énfasis* fuera")
    assert formulas(starred) == [("inline", "a*b*c"), ("inline", "x_1 + y_1")]
    assert starred.count("<em>") == 1
    assert formulas(markdown_html("`$x$` es código")) == []
    assert formulas(markdown_html("cuesta 5 $ y 10 $.")) == []


def test_a_math_element_survives_the_chatbots_markdown():
    """A chat message is Markdown with inline HTML (the Chatbot renders it again): the
    entities keep every TeX character from being read as Markdown."""
    chat_markdown = MarkdownIt("commonmark", {"html": True})
    for tex in (INLINE, DISPLAY, r"a_1 * b_1 * c \, \{x\} [1](y)"):
        element = text_html(f"${tex}$")
        again = chat_markdown.renderInline(element)
        assert [text for _, text in formulas(again)] == [tex]


def test_a_highlight_marks_a_formula_whole():
    text = "antes $a+b$ después"
    for mark in [(0, 8), (7, 9), (8, 19), (0, len(text))]:
        rendered = markdown_html(text, mark=mark)
        assert formulas(rendered) == [("inline", "a+b")]
        assert '<mark><span class="math inline">' in rendered
        assert "\ue000" not in rendered and "\ue001" not in rendered


HOSTILE = [
    "$<script>alert(1)</script>$",
    "$$</div><img src=x onerror=alert(1)>$$",
    '$x" onmouseover="alert(1)$',
    "$</span><script>alert(1)</script>$",
]
RENDERERS = {
    "text": text_html,
    "markdown": markdown_html,
    "passage": lambda text: passage_html(text, "nota.md"),
    "chat question": question_html,
    "chat streaming": streaming_html,
    "study passage": lambda text: card_passage_html(Passage("nota.md", "T", text, None)),
}


@pytest.mark.parametrize("renderer", RENDERERS, ids=list(RENDERERS))
@pytest.mark.parametrize("formula", HOSTILE)
def test_a_formula_never_lets_html_through(renderer, formula):
    rendered = RENDERERS[renderer](formula)
    assert not re.search(r"<(?!/?(span|div|p|article|mark)\b)", rendered), rendered
    assert "<script" not in rendered and "<img" not in rendered
    assert [text for _, text in formulas(rendered)] == [formula.strip("$")]


def test_chunks_and_the_index_keep_the_tex_as_written(tmp_path, fake_embedder, fake_config):
    note = next(n for n in load_notes(VAULT).notes if n.source == "Atención.md")
    chunked = "".join(chunk.text for chunk in chunk_notes([note]))
    assert f"${INLINE}$" in chunked and f"$${DISPLAY}$$" in chunked
    build_index(VAULT, tmp_path / "index", index_config=fake_config)
    index = NotesIndex.load(tmp_path / "index")
    hits = index.search("softmax atención", k=5)
    assert any(f"${INLINE}$" in hit.chunk.text for hit in hits)


def _card(front: str, back: str) -> Card:
    return Card("c1", "qa", front, back, "Atención.md", "Atención", "x", 0, 10, back)


def test_anki_text_uses_ankis_delimiters():
    assert anki_text("la raíz $\\sqrt{x}$ y $$\\frac{a}{b}$$") == (
        "la raíz \\(\\sqrt{x}\\) y \\[\\frac{a}{b}\\]"
    )
    assert anki_text("cuesta 5 $ y 10 $") == "cuesta 5 $ y 10 $"


def _anki_fields(path: Path, tmp_path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        (tmp_path / "c.anki2").write_bytes(archive.read("collection.anki2"))
    connection = sqlite3.connect(tmp_path / "c.anki2")
    try:
        (fields,) = connection.execute("SELECT flds FROM notes").fetchone()
    finally:
        connection.close()
    return fields.split("\x1f")


def test_the_anki_package_holds_the_formulas_in_ankis_delimiters(tmp_path):
    card = _card("¿Cuánto vale $x^2$ si $x<3$?", "La atención:\n$$\\frac{QK^T}{\\sqrt{d}}$$")
    write_anki([card], tmp_path / "mazo.apkg")
    front, back, _, passage, _ = _anki_fields(tmp_path / "mazo.apkg", tmp_path)  # ..., Id
    assert front == "¿Cuánto vale \\(x^2\\) si \\(x&lt;3\\)?"
    assert back == passage == "La atención:<br>\\[\\frac{QK^T}{\\sqrt{d}}\\]"
    write_csv([card], tmp_path / "mazo.csv")
    csv_text = (tmp_path / "mazo.csv").read_text(encoding="utf-8")
    assert "\\(x^2\\)" in csv_text and "\\[\\frac{QK^T}" in csv_text and "$" not in csv_text
