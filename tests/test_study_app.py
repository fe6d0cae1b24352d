"""The app's study tab without a browser: StudyDesk and StudySession (assistant/study/
session.py), their HTML (card_html.py) and the StudyApp callbacks, over a copy of the
default notes with the fake embedder and the word-overlap checker; the chat model is never
built (its factory fails the test if called)."""

from __future__ import annotations

import csv
import io
import zipfile
from argparse import Namespace
from datetime import UTC, datetime, timedelta

import gradio as gr
import pytest

import app as study_app
from assistant.cli.study import _deck_path
from assistant.study.cards import build_cards
from assistant.study.deck import Deck
from assistant.study.export import ExportError
from assistant.study.storage import DeckError
from assistant.web.callbacks import STUDY_MODES
from assistant.web.card_html import (
    NO_CARDS,
    NOTHING_DUE,
    back_html,
    due_text,
    front_html,
    passage_html,
    progress_markdown,
    rating_label,
    retention_rows,
)
from assistant.web.study_desk import (
    CardView,
    Passage,
    StudyDesk,
    StudyError,
    StudySession,
    card_passage,
)
from corpus.loader import load_notes
from corpus.paths import default_deck_path
from index.store import build_index, open_index
from tests.fakes import OverlapChecker

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
NO_PROGRESS = lambda *a, **k: None  # noqa: E731 (gr.Progress stand-in)
FLIP, WRITTEN, CHOICE = STUDY_MODES
# study_view's outputs, by position
SESSION, FRONT, BACK, ANSWER, OPTIONS, ACTIONS, CHECK, REVEAL, RATINGS = range(9)
RATING_BUTTONS = slice(9, 13)


def no_chat(index, settings):
    raise AssertionError("the study tab must not build the chat's assistant")


@pytest.fixture
def index(notes_copy, tmp_path, fake_embedder, fake_config):
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    return open_index(notes_copy, tmp_path / "index")[0]


@pytest.fixture
def desk(index, notes_copy, tmp_path):
    desk = StudyDesk(tmp_path / "deck.sqlite", notes_copy, tmp_path / "study", OverlapChecker)
    desk.rebuild(index.chunks, index.chunk_config, now=T0)
    return desk


@pytest.fixture
def make_app(notes_copy, tmp_path, index):
    def make(**kwargs):
        kwargs = {
            "deck_path": tmp_path / "deck.sqlite",
            "make_checker": OverlapChecker,
            "study_dir": tmp_path / "study",
            **kwargs,
        }
        return study_app.StudyApp(notes_copy, tmp_path / "index", no_chat, **kwargs)

    return make


def _deck(desk: StudyDesk) -> Deck:
    return Deck.open(desk.deck_path)


# -- the desk ----------------------------------------------------------------------------


def test_the_deck_holds_the_notes_cards_and_a_rebuild_keeps_the_reviews(desk, index, notes_copy):
    expected = build_cards(load_notes(notes_copy).notes, chunk_config=index.chunk_config)
    with _deck(desk) as deck:
        assert [row.card for row in deck.cards()] == expected
    session = StudySession()
    first = desk.view(session, now=T0).row.card
    desk.reveal(session)
    desk.rate(session, "good", now=T0)
    (notes_copy / "otra.md").write_text("# Otra\n\nUna nota sin tarjetas.\n", encoding="utf-8")
    report = desk.rebuild(index.chunks, index.chunk_config, now=T0)
    assert (report.cards, report.new, report.updated, report.retired) == (len(expected), 0, 0, 0)
    with _deck(desk) as deck:
        assert [r.rating for r in deck.reviews(first.id)] == ["good"]


def test_due_cards_come_one_at_a_time_and_a_rating_moves_to_the_next(desk):
    with _deck(desk) as deck:
        due = [row.card.id for row in deck.due(T0, limit=3)]
    session = StudySession()
    view = desk.view(session, now=T0)
    assert view.row.card.id == due[0] and not view.revealed and view.passage is None
    assert desk.view(session, now=T0).row.card.id == due[0]  # a redraw keeps the card
    desk.reveal(session)
    view = desk.view(session, now=T0)
    assert view.revealed and view.passage.source == view.row.card.source
    rated = desk.rate(session, "again", now=T0)
    assert rated.card.id == due[0] and rated.state.due > T0
    assert session.reviewed == 1 and session.last.rating == "again"
    assert desk.view(session, now=T0).row.card.id == due[1]
    with _deck(desk) as deck:
        (review,) = deck.reviews()
    assert review.card_id == due[0] and review.duration_ms is not None and review.duration_ms >= 0


@pytest.mark.parametrize(
    "prepare, message",
    [
        (lambda desk, session: None, "No hay ninguna tarjeta"),  # nothing on screen
        (lambda desk, session: desk.view(session, now=T0), "Muestra la respuesta"),
    ],
)
def test_a_rating_needs_a_card_whose_back_was_shown(desk, prepare, message):
    session = StudySession()
    prepare(desk, session)
    with pytest.raises(StudyError, match=message):
        desk.rate(session, "good", now=T0)
    with _deck(desk) as deck:
        assert deck.reviews() == []


def test_with_nothing_due_the_view_says_when_the_next_card_is(tmp_path, fake_embedder, fake_config):
    notes = tmp_path / "few"
    notes.mkdir()
    (notes / "rag.md").write_text(
        "# RAG\n\n## ¿Qué es RAG?\n\nRAG combina la recuperación de pasajes con la "
        "generación de texto.\n",
        encoding="utf-8",
    )
    build_index(notes, tmp_path / "index", index_config=fake_config)
    index = open_index(notes, tmp_path / "index")[0]
    desk = StudyDesk(tmp_path / "deck.sqlite", notes, tmp_path / "study", OverlapChecker)
    desk.rebuild(index.chunks, index.chunk_config, now=T0)
    session = StudySession()
    while (view := desk.view(session, now=T0)).row is not None:
        desk.reveal(session)
        desk.rate(session, "easy", now=T0)
    assert view.cards == session.reviewed >= 1 and view.next_due > T0 + timedelta(days=1)
    page = front_html(view, now=T0)
    assert NOTHING_DUE in page and "La siguiente vence en " in page and "días" in page
    assert back_html(view) == ""


def test_an_empty_deck_says_where_cards_come_from():
    assert "Añade notas" in front_html(CardView(None, cards=0)) and NO_CARDS.startswith("Tus")


def test_every_card_passage_is_its_chunk_with_the_card_span_marked(index, notes_copy):
    notes = {note.source: note for note in load_notes(notes_copy).notes}
    chunks = {chunk.id: chunk for chunk in index.chunks}
    cards = build_cards(notes.values(), chunk_config=index.chunk_config)
    marked = 0
    for card in cards:
        passage = card_passage(card, chunks)
        chunk = chunks[card.chunk_id]
        assert (passage.source, passage.heading, passage.text) == (
            chunk.source,
            chunk.heading,
            chunk.text,
        )
        if passage.mark is not None:
            start, end = passage.mark
            span = notes[card.source].text[card.start : card.end]
            assert passage.text[start:end] in span and start < end
            marked += 1
    kinds = {card.kind for card in cards if card_passage(card, chunks).mark is not None}
    assert marked > 0 and "cloze" in kinds  # a sentence inside its section is marked


def test_a_passage_outside_the_index_falls_back_to_the_card_full_back(desk, index):
    with _deck(desk) as deck:
        card = deck.cards()[0].card
    passage = card_passage(card, {})
    assert passage == Passage(card.source, card.heading, card.full_back)


@pytest.mark.parametrize(
    "answer, rating",
    [
        ("{back}", "easy"),
        ("Es una red recurrente que traduce imágenes.", "again"),
        ("", "again"),
    ],
)
def test_a_written_answer_gets_a_proposed_rating_and_shows_the_back(desk, answer, rating):
    session = StudySession()
    card = desk.view(session, now=T0).row.card
    grade = desk.grade(session, answer.format(back=card.back))
    assert grade.rating == rating
    view = desk.view(session, now=T0)
    assert view.revealed and view.grade == grade and view.passage is not None
    assert f"Propuesta: <strong>{rating_label(rating)}</strong>" in back_html(view)


def test_exports_are_anki_and_csv_files_in_the_study_folder(desk, tmp_path):
    with _deck(desk) as deck:
        total = len(deck.cards())
    package, written = desk.export("apkg")
    assert package.parent == tmp_path / "study" and package.suffix == ".apkg"
    assert written == total and "collection.anki2" in zipfile.ZipFile(package).namelist()
    table, written = desk.export("csv")
    rows = [r for r in csv.reader(io.StringIO(table.read_text())) if not r[0].startswith("#")]
    assert written == len(rows) == total
    with pytest.raises(StudyError, match="apkg o csv"):
        desk.export("zip")


def test_an_export_or_plot_folder_inside_the_notes_is_refused(index, notes_copy, tmp_path):
    desk = StudyDesk(tmp_path / "deck.sqlite", notes_copy, notes_copy / "out", OverlapChecker)
    desk.rebuild(index.chunks, index.chunk_config, now=T0)
    with pytest.raises(ExportError, match="No se exporta sobre una entrada"):
        desk.export("csv")
    with pytest.raises(ExportError):
        desk.plot(desk.stats(now=T0))
    assert not (notes_copy / "out").exists()


def test_a_deck_inside_the_notes_folder_is_refused_before_any_work(notes_copy, tmp_path):
    with pytest.raises(DeckError, match="dentro de la carpeta de notas"):
        StudyDesk(notes_copy / "deck.sqlite", notes_copy, tmp_path / "study")
    code = study_app.main(
        ["--notes", str(notes_copy), "--index", str(tmp_path / "i"), "--deck", str(notes_copy)]
    )
    index_files = [p for p in (tmp_path / "i").rglob("*") if p.is_file()]  # an empty probe is ok
    assert code == 2 and index_files == [] and not (notes_copy / "deck.sqlite").exists()


# -- the HTML ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "after, text",
    [
        (timedelta(0), "ahora"),
        (timedelta(seconds=30), "en 1 min"),
        (timedelta(minutes=10), "en 10 min"),
        (timedelta(hours=5), "en 5 h"),
        (timedelta(days=1), "en 1 día"),
        (timedelta(days=3, hours=2), "en 3 días"),
    ],
)
def test_due_text(after, text):
    assert due_text(T0 + after, now=T0) == text


def test_progress_counts_in_spanish_and_names_the_last_rating(desk):
    session = StudySession()
    desk.view(session, now=T0)
    desk.reveal(session)
    desk.rate(session, "good", now=T0)
    stats = desk.stats(now=T0)
    line = progress_markdown(stats, session.reviewed, session.last, now=T0)
    assert line.startswith(f"**{stats['due_today']} pendientes hoy** · 1 repasada en esta sesión")
    assert "→ Bien, vuelve en 10 min" in line
    assert progress_markdown({"due_today": 1}, 0).startswith("**1 pendiente hoy** · 0 repasadas")
    rows = {row[0]: row[1:] for row in retention_rows(stats)}
    assert rows["preguntas_nlp_llm.md"] == [1, "100%"]
    assert rows["teacher_forcing.md"] == [0, "—"]


def test_note_and_answer_text_is_never_live_html(notes_copy, tmp_path, fake_embedder, fake_config):
    (notes_copy / "trampa.md").write_text(
        "# Trampa\n\n## ¿Qué es <script>alert(1)</script>?\n\n"
        "El token <b>negrita</b> es peligroso en HTML y rompe la página.\n",
        encoding="utf-8",
    )
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    index = open_index(notes_copy, tmp_path / "index")[0]
    desk = StudyDesk(tmp_path / "deck.sqlite", notes_copy, tmp_path / "study", OverlapChecker)
    desk.rebuild(index.chunks, index.chunk_config, now=T0)
    with _deck(desk) as deck:
        (row,) = [r for r in deck.cards() if r.card.source == "trampa.md"]
    session = StudySession(card_id=row.card.id)
    desk.grade(session, "<img src=x onerror=alert(1)>")
    view = desk.view(session, now=T0)
    page = front_html(view) + back_html(view) + passage_html(view.passage)
    assert "<script>" not in page and "<b>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x" in page


# -- the app -----------------------------------------------------------------------------


def test_the_deck_defaults_to_the_one_cards_build_uses(make_app, notes_copy, monkeypatch):
    monkeypatch.delenv("STUDY_ASSISTANT_DECK", raising=False)
    assert study_app.parse_args([]).deck is None
    app = make_app(deck_path=None)
    assert app.study.deck_path == default_deck_path(notes_copy)
    assert app.study.deck_path == _deck_path(Namespace(notes=str(notes_copy), deck=None))
    assert app.study.deck_path.exists()  # built at start
    monkeypatch.setenv("STUDY_ASSISTANT_DECK", "/d.sqlite")
    assert study_app.parse_args([]).deck == "/d.sqlite"
    assert study_app.parse_args(["--deck", "/e.sqlite"]).deck == "/e.sqlite"


def test_the_tab_flips_a_card_rates_it_and_refreshes_the_statistics(make_app):
    app = make_app()
    assert app.cards_status.startswith("Tarjetas: 130 (130 nuevas")
    session = StudySession()
    shown = app.study_show(session, FLIP)
    assert "study-front" in shown[FRONT] and shown[BACK] == ""
    assert shown[REVEAL].visible and not shown[CHECK].visible and not shown[ANSWER]["visible"]
    assert not shown[RATINGS].visible
    first = session.card_id

    revealed = app.study_reveal(session, FLIP)
    assert 'class="source-card study-source"' in revealed[BACK] and "study-back" in revealed[BACK]
    assert revealed[RATINGS].visible and not revealed[REVEAL].visible
    assert not revealed[ACTIONS].visible  # no button left in it (flip mode)
    progress, summary, plot, retention = app.study_stats(session)
    # 130 new cards, 20 of them today (the daily limit)
    assert "20 pendientes hoy** · 0 repasadas" in progress and "0 repasos en total" in summary

    after = app.study_rate("easy", session, FLIP)
    assert session.card_id != first and after[BACK] == "" and not after[RATINGS].visible
    progress, summary, plot, retention = app.study_stats(session)
    assert "19 pendientes hoy** · 1 repasada en esta sesión" in progress
    assert "1 repaso en total" in summary
    assert open(plot, "rb").read(4) == b"\x89PNG"
    assert ["preguntas_nlp_llm.md", 1, "100%"] in retention


def test_written_mode_proposes_a_rating_that_the_buttons_accept_or_override(make_app):
    app = make_app()
    session = StudySession()
    shown = app.study_show(session, WRITTEN)
    assert shown[ANSWER] == {"__type__": "update", "visible": True, "value": ""}  # a new card
    assert shown[CHECK].visible and shown[REVEAL].visible
    redrawn = app.study_show(session, WRITTEN)  # another tab, the mode: the typing is kept
    assert "value" not in redrawn[ANSWER] and redrawn[ANSWER]["visible"]
    with Deck.open(app.study.deck_path) as deck:
        back = deck.get(session.card_id).card.back
    graded = app.study_check(back, None, session, WRITTEN)
    assert "Propuesta: <strong>Fácil</strong>" in graded[BACK] and graded[RATINGS].visible
    variants = [button.variant for button in graded[RATING_BUTTONS]]
    assert variants == ["secondary", "secondary", "secondary", "primary"]  # Fácil proposed
    assert "value" not in graded[ANSWER] and graded[CHECK].visible  # may be edited, re-checked
    card = session.card_id
    after = app.study_rate("hard", session, WRITTEN)  # overriding the proposal
    assert after[ANSWER]["value"] == ""  # the next card's box starts empty
    with Deck.open(app.study.deck_path) as deck:
        assert [r.rating for r in deck.reviews(card)] == ["hard"]


@pytest.mark.parametrize("right", [True, False])
def test_choice_mode_offers_the_back_among_others_and_proposes_good_or_again(make_app, right):
    app = make_app()
    session = StudySession()
    shown = app.study_show(session, CHOICE)
    options = shown[OPTIONS]
    assert options["visible"] and options["interactive"] and options["value"] is None
    with Deck.open(app.study.deck_path) as deck:
        card = deck.get(session.card_id).card
        kinds = {row.card.back: row.card.kind for row in deck.cards()}
    texts = list(session.choice.options)  # drawn as Markdown in the front, named A-D
    assert options["choices"] == ["A", "B", "C", "D"] and shown[FRONT].count('study-option"') == 4
    assert len(texts) == 4 and texts.count(card.back) == 1
    assert {kinds[back] for back in texts} == {card.kind}  # same kind of card
    assert shown[CHECK].visible and not shown[REVEAL].visible and not shown[RATINGS].visible
    app.study_show(session, CHOICE)
    assert list(session.choice.options) == texts  # kept

    with pytest.raises(gr.Error, match="Elige una de las opciones"):
        app.study_check("", None, session, CHOICE)
    right_at = texts.index(card.back)
    picked = right_at if right else (right_at + 1) % 4
    checked = app.study_check("", picked, session, CHOICE)
    assert ("✓ Correcto" in checked[BACK]) == right and card.back in checked[BACK]
    proposed = "Bien" if right else "Otra vez"
    assert f"Propuesta: <strong>{proposed}</strong>" in checked[BACK]
    variants = [button.variant for button in checked[RATING_BUTTONS]]
    assert variants.index("primary") == (2 if right else 0)
    assert checked[RATINGS].visible and not checked[CHECK].visible
    assert checked[OPTIONS]["value"] == options["choices"][picked]
    assert not checked[OPTIONS]["interactive"]
    after = app.study_rate("good" if right else "again", session, CHOICE)
    assert session.card_id != card.id and after[OPTIONS]["value"] is None
    with Deck.open(app.study.deck_path) as deck:
        assert [r.rating for r in deck.reviews(card.id)] == ["good" if right else "again"]


def test_a_card_without_options_is_shown_to_flip_with_a_warning(make_app, notes_copy, monkeypatch):
    """The only card of its kind (the notes' one definition card) has no distractors."""
    app = make_app()
    warned: list[str] = []
    monkeypatch.setattr("assistant.web.callbacks._warn", warned.append)
    session = StudySession()
    with Deck.open(app.study.deck_path) as deck:
        (definition,) = [row.card for row in deck.cards() if row.card.kind == "definition"]
    session.show(definition.id)
    shown = app.study_show(session, CHOICE)
    assert len(warned) == 1 and "responde por escrito" in warned[0]
    assert not shown[OPTIONS]["visible"] and shown[REVEAL].visible


def test_rating_without_the_back_shown_is_a_gradio_error(make_app):
    app = make_app()
    session = StudySession()
    app.study_show(session, FLIP)
    with pytest.raises(gr.Error, match="Muestra la respuesta"):
        app.study_rate("good", session, FLIP)


def test_a_card_that_left_the_notes_is_a_warning_and_the_next_card_comes(make_app, notes_copy):
    app = make_app()
    session = StudySession()
    app.study_show(session, FLIP)
    app.study_reveal(session, FLIP)
    with Deck.open(app.study.deck_path) as deck:
        gone = deck.get(session.card_id).card
    note = notes_copy / gone.source
    text = note.read_text(encoding="utf-8")
    note.write_text(text.replace(text[gone.start : gone.end], ""), encoding="utf-8")
    assert "retiradas" in app.reindex(progress=NO_PROGRESS)
    with pytest.warns(UserWarning, match="retirada"):
        shown = app.study_rate("good", session, FLIP)
    assert session.card_id not in (None, gone.id) and gone.front not in shown[FRONT]


def test_uploading_and_deleting_notes_rebuilds_the_cards(make_app, notes_copy, tmp_path):
    app = make_app()
    upload = tmp_path / "up" / "rag.md"
    upload.parent.mkdir()
    upload.write_text(
        "# RAG\n\n## ¿Qué es RAG?\n\nRAG combina la recuperación de pasajes con la "
        "generación de texto.\n",
        encoding="utf-8",
    )
    status = app.upload([str(upload)], replace=False, progress=NO_PROGRESS)
    assert "Tarjetas: 131 (1 nuevas, 0 actualizadas, 0 retiradas)." in status
    with Deck.open(app.study.deck_path) as deck:
        (rag,) = [r for r in deck.cards() if r.card.source == "rag.md"]
    assert rag.card.front == "¿Qué es RAG?"
    status, _, _ = app.delete("rag.md", progress=NO_PROGRESS)
    assert "1 retiradas" in status
    with Deck.open(app.study.deck_path) as deck:
        assert deck.get(rag.card.id).retired is not None


def test_a_damaged_deck_leaves_the_app_running_and_says_how_to_restore(make_app, tmp_path):
    app = make_app()
    app.study.deck_path.write_bytes(b"garbage" * 500)
    assert "cards restore" in app.rebuild_cards()
    shown = app.study_show(StudySession(), FLIP)
    assert "está dañado" in shown[FRONT] and not shown[REVEAL].visible
    assert "está dañado" in app.study_stats(StudySession())[0]
    with pytest.raises(gr.Error, match="está dañado"):
        app.study_export("csv")


def test_the_export_buttons_hand_out_files(make_app, tmp_path):
    app = make_app()
    package = app.study_export("apkg")
    assert package["visible"] and package["value"].endswith(".apkg")
    assert zipfile.is_zipfile(package["value"])
    assert app.study_export("csv")["value"].endswith(".csv")


def test_the_ui_has_the_study_tab_with_its_rating_buttons(make_app):
    demo = study_app.build_ui(make_app())
    ids = {block.elem_id for block in demo.blocks.values()}
    assert {f"study-rate-{key}" for key in "1234"} | {"study-front", "study-reveal"} <= ids
    labels = {block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)}
    assert {"Chat", "Estudiar", "Notas", "Experimentos"} <= labels
