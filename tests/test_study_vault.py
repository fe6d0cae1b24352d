r"""Study cards from an Obsidian vault (issue 27, the study tab): a card's passage draws the
folder's images (a missing or refused one is its name in grey) and its [[links]] open their
notes as in the chat's sources (a missing note is text); a card's TeX stays as written
("$\sqrt{d_k}$", not "$\sqrt{dk}$") while what the index embeds, and every card's id, stay
as they were."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import assistant.study.sections as sections
from assistant.study.cards import build_cards
from assistant.web.card_html import back_html, face_html, front_html
from assistant.web.markdown_html import text_html
from assistant.web.study_desk import StudyDesk, StudySession
from corpus.chunking import chunk_notes
from corpus.loader import load_notes
from corpus.markdown import math_pieces, plain_text, strip_markup_outside_math
from corpus.text import strip_markup
from index.store import build_index, open_index
from tests.conftest import NOTES
from tests.fakes import OverlapChecker
from tests.test_vault import VAULT, _png

# A note of the vault whose first card is a definition with formulas; its section holds the
# display formula, the image Atención.md embeds, a link to a note, one to a note's section
# and one to a missing note.
SCALED = "Atención escalada.md"
SCALED_NOTE = r"""# Atención escalada

La atención escalada es una variante de la [[Atención]] que divide $QK^T$ entre $\sqrt{d_k}$ antes del softmax.

$$\text{Attention}(Q, K, V) = \text{softmax}\left(\frac{QK^T}{\sqrt{d_k}}\right)V$$

![[diagrama-atencion.png]]

El origen del **escalado** se cuenta en [[Historia del Transformer]] y su relación con $d_{model}$ en [[Embeddings#Contextuales|embeddings contextuales]].
"""
IMG = '<img class="note-image" src="data:image/png;base64,'
MATH = re.compile(r'<span class="math (inline|display)">(.*?)</span>', re.S)


@pytest.fixture
def vault(tmp_path) -> Path:
    copy = tmp_path / "vault"
    shutil.copytree(VAULT, copy)
    (copy / SCALED).write_text(SCALED_NOTE, encoding="utf-8")
    return copy


def _tex(rendered: str) -> list[str]:
    """The TeX of every math element, its entities read back as a browser reads them."""
    import html

    return [html.unescape(tex) for _, tex in MATH.findall(rendered)]


@pytest.mark.parametrize(
    "text",
    [
        "sin fórmulas, con **negrita** y `código`",
        "cuesta 5 $ y de $5 a $10",
        r"escapado \$a_b$ y $ suelto",
        r"la **raíz** $\sqrt{d_k}$ y $$a_*b$$ al final",
        "dos líneas\r\ncon $x_1$\r\n",
        "$x$",
    ],
)
def test_math_pieces_join_back_and_only_formulas_keep_their_marks(text):
    pieces = math_pieces(text)
    assert "".join(piece for piece, _ in pieces) == text
    kept = strip_markup_outside_math(text)
    if not any(formula for _, formula in pieces):
        assert kept == strip_markup(text)  # a text without formulas: the old reading
    for piece, formula in pieces:
        if formula:
            assert piece.startswith("$") and piece.endswith("$") and piece in kept


def test_what_the_index_embeds_is_unchanged():
    # plain_text (Chunk.embed_text) still reads formulas as before: the retrieval figures
    # were measured on it.
    assert plain_text(r"divide entre $\sqrt{d_k}$ y **más**") == r"divide entre $\sqrt{dk}$ y más"


def test_cards_keep_their_tex_and_every_id(vault, monkeypatch):
    notes = load_notes(vault).notes + load_notes(NOTES).notes
    cards = build_cards(notes)
    # The same cards with the old reading of a card face (markup dropped inside formulas).
    monkeypatch.setattr(sections, "strip_markup_outside_math", strip_markup)
    before = build_cards(notes)
    assert [c.id for c in cards] == [c.id for c in before]  # no review is reset
    texts = {note.source: note.text for note in notes}
    for card, old in zip(cards, before, strict=True):
        if "$" not in texts[card.source][card.start : card.end]:
            assert card == old  # a card without a formula is the same card
    definition = next(c for c in cards if c.source == SCALED and c.kind == "definition")
    assert definition.front == "¿Qué es la atención escalada?"
    assert r"$QK^T$ entre $\sqrt{d_k}$ antes" in definition.back
    cloze = next(c for c in cards if c.source == SCALED and c.back == "escalado")
    assert "$d_{model}$" in cloze.front and "[...]" in cloze.front
    # The Knowledge Distillation loss of the default notes, subscripts and all.
    assert any(r"\alpha L_{KD}$" in c.full_back for c in cards)


def test_a_card_face_shows_formulas_and_a_links_visible_text():
    face = face_html(r"ver [[Embeddings#Contextuales|alias]] y [[Atención]] con $\sqrt{d_k}$")
    assert face.startswith("ver alias y Atención con ")
    assert _tex(face) == [r"\sqrt{d_k}"]
    assert "[[" not in face and "<a" not in face
    assert face_html("![[imagen.png]] Figura") == " Figura"
    assert _tex(face_html("$[[a]]_1$")) == ["[[a]]_1"]  # a formula is never rewritten
    plain = "sin enlaces: 5 $ < 6 $ & «comillas»"
    assert face_html(plain) == text_html(plain)


def _desk(vault: Path, tmp_path: Path, fake_config) -> tuple[StudyDesk, Callable[[], object]]:
    """The vault's study desk, and what the app calls on a re-index (cards rebuilt, the
    folder listed again)."""
    build_index(vault, tmp_path / "index", index_config=fake_config)
    index = open_index(vault, tmp_path / "index")[0]
    desk = StudyDesk(tmp_path / "deck.sqlite", vault, tmp_path / "study", OverlapChecker)
    desk.rebuild(index.chunks, index.chunk_config)
    return desk, lambda: desk.rebuild(index.chunks, index.chunk_config)


def _revealed(desk: StudyDesk) -> str:
    """The back of the first due card (the vault's first note's), revealed."""
    session = StudySession()
    front = front_html(desk.view(session))
    assert "¿Qué es la atención escalada?" in front
    desk.reveal(session)
    return back_html(desk.view(session))


def test_a_cards_passage_draws_the_folders_image_and_opens_its_links(
    vault, tmp_path, fake_embedder, fake_config
):
    desk, rebuild = _desk(vault, tmp_path, fake_config)
    back = _revealed(desk)
    # Missing: the image is its name, in grey.
    assert IMG not in back
    assert '<span class="wikilink-embed">diagrama-atencion.png</span>' in back
    # The back's own text: the link's visible text, the TeX whole.
    (face,) = re.findall(r'<div class="study-back">(.*?)</div>', back)
    assert "[[" not in face and "de la Atención que" in face
    assert _tex(face) == ["QK^T", r"\sqrt{d_k}"]
    # The passage: links to the folder's notes open them (app.js), a missing note is text,
    # as in the chat's source cards; its display formula is a math element.
    assert '<a class="wikilink" href="#" data-note="Atención.md" data-section="">' in back
    assert 'data-note="Temas/Embeddings.md" data-section="Contextuales"' in back
    assert '<span class="wikilink missing">Historia del Transformer</span>' in back
    display = r"\text{Attention}(Q, K, V) = \text{softmax}\left(\frac{QK^T}{\sqrt{d_k}}\right)V"
    assert '<span class="math display">' in back and display in _tex(back)

    # An image that links out of the folder is refused as a note would be: its name.
    outside = _png(tmp_path / "fuera.png")
    (vault / "adjuntos").mkdir()
    (vault / "adjuntos" / "diagrama-atencion.png").symlink_to(outside)
    rebuild()
    back = _revealed(desk)
    assert IMG not in back and "wikilink-embed" in back

    # The folder's own image is drawn, once, inlined (the page fetches nothing).
    (vault / "adjuntos" / "diagrama-atencion.png").unlink()
    _png(vault / "adjuntos" / "diagrama-atencion.png")
    rebuild()
    back = _revealed(desk)
    assert back.count(IMG) == 1 and "wikilink-embed" not in back


def test_a_passage_outside_the_index_still_shows_its_links_as_text(vault):
    # A desk never rebuilt knows no folder listing: links are their text, images names.
    from assistant.web.card_html import passage_html
    from assistant.web.study_desk import Passage

    chunk = next(c for c in chunk_notes(load_notes(vault).notes) if c.source == SCALED)
    shown = passage_html(Passage(SCALED, "Atención escalada", chunk.text))
    assert "data-note=" not in shown and '<span class="wikilink">Atención</span>' in shown
    assert IMG not in shown
