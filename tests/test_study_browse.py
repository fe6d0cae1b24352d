"""The card browser (issue 28): find cards by text, note or tag; edit a card's front and
back (same id, same reviews, and a rebuild from the notes keeps the edit); suspend, resume
and delete (never due, the reviews kept), and undelete a deleted card; add a card by hand to a note's section (kept by
rebuilds while its note is there). An older deck gets the browser's columns when opened
and stays readable. The app's Anki export carries the schedule, and its Anki import
merges reviews and says so in one line. Over a copy of the default notes plus a tagged
note, with the fake embedder; no chat model."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import gradio as gr
import pytest

import app as study_app
from assistant.cli.main import main
from assistant.study import schema
from assistant.study.browse import (
    BrowseError,
    CardQuery,
    browse_rows,
    deleted_choices,
    status_label,
)
from assistant.study.cards import build_cards
from assistant.study.deck import Deck
from assistant.study.storage import DeckError
from assistant.web.study_desk import StudyDesk, card_passage
from corpus.loader import load_notes
from index.store import build_index, open_index
from tests.fakes import OverlapChecker

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=400)  # every card is due by then, whatever its state
TAGGED = "recurrentes.md"
TAGGED_NOTE = """---
tags: [rnn, secuencias]
---
# Redes recurrentes

## ¿Qué es una RNN?

Una RNN procesa una secuencia paso a paso y pasa un estado oculto de cada paso al siguiente.

## Memoria

El estado oculto resume lo que la red ha visto hasta ese paso de la secuencia.
"""
SECTION = "Redes recurrentes > Memoria"
TRANSFER = "¿Qué es Transfer Learning?"


@pytest.fixture
def notes(notes_copy) -> Path:
    (notes_copy / TAGGED).write_text(TAGGED_NOTE, encoding="utf-8")
    return notes_copy


@pytest.fixture
def index(notes, tmp_path, fake_embedder, fake_config):
    build_index(notes, tmp_path / "index", index_config=fake_config)
    return open_index(notes, tmp_path / "index")[0]


@pytest.fixture
def desk(index, notes, tmp_path) -> StudyDesk:
    desk = StudyDesk(tmp_path / "deck.sqlite", notes, tmp_path / "study", OverlapChecker)
    desk.rebuild(index.chunks, index.chunk_config, now=T0)
    return desk


def _rebuild(desk: StudyDesk, index, days: int = 1) -> None:
    desk.rebuild(index.chunks, index.chunk_config, now=T0 + timedelta(days=days))


def _one(desk: StudyDesk, query: str):
    (row,) = desk.find(query)
    return row


def _transfer(desk: StudyDesk):
    """The question card of "1. ¿Qué es Transfer Learning?" (a cloze of its section has
    the question in its heading, so the phrase finds both)."""
    (row,) = [row for row in desk.find(f'"{TRANSFER}"') if row.card.front == TRANSFER]
    return row


def _due_ids(desk: StudyDesk) -> set[str]:
    """The cards ``Deck.due`` draws from by LATER: in study, their due date come (which of
    the new ones it hands out is the daily limit's business)."""
    with Deck.open(desk.deck_path) as deck:
        return {row.card.id for row in deck.cards() if row.state.due <= LATER}


def _drawn(desk: StudyDesk) -> list[str]:
    """What ``Deck.due`` hands out by LATER (the first new cards in note order: the first
    note's question card among them)."""
    with Deck.open(desk.deck_path) as deck:
        return [row.card.id for row in deck.due(LATER)]


def _active_ids(desk: StudyDesk) -> set[str]:
    with Deck.open(desk.deck_path) as deck:
        return {row.card.id for row in deck.cards()}


def _review(desk: StudyDesk, card_id: str, rating: str = "good") -> None:
    with Deck.open(desk.deck_path) as deck:
        deck.review(card_id, rating, now=T0)


def _reviews(desk: StudyDesk, card_id: str) -> list:
    with Deck.open(desk.deck_path) as deck:
        return deck.reviews(card_id)


# -- finding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", CardQuery()),
        ("Atención  encoder", CardQuery(words=("atencion", "encoder"))),
        (
            '"self attention" #RNN nota:Teacher',
            CardQuery(("self attention",), ("teacher",), ("rnn",)),
        ),
        ("etiqueta:secuencias tag:##rnn", CardQuery(tags=("secuencias", "rnn"))),
        ('"sin cerrar nota:x', CardQuery(words=("sin", "cerrar"), notes=("x",))),
        ("# nota:", CardQuery(words=("#", "nota:"))),  # a bare prefix is a word
    ],
)
def test_a_query_is_words_notes_and_tags_folded(text, parsed):
    assert CardQuery.parse(text) == parsed


def test_cards_are_found_by_text_note_or_tag(desk):
    everything = desk.find("")
    sources = {row.card.source for row in everything}
    assert {TAGGED, "teacher_forcing.md", "preguntas_nlp_llm.md"} <= sources

    tagged = desk.find("#rnn")
    assert tagged and {row.card.source for row in tagged} == {TAGGED}
    assert desk.find("#secu") == tagged  # a tag by its start
    assert desk.find("etiqueta:RNN") == tagged
    assert desk.find("#transformer") == []
    # A plain word matches the note's tags too, and the text, accents and case aside.
    assert set(tagged) <= set(desk.find("rnn"))
    assert desk.find("ESTADO OCULTO #rnn") == [r for r in tagged if "estado oculto" in _text(r)]

    teacher = desk.find("nota:teacher")
    assert teacher and {row.card.source for row in teacher} == {"teacher_forcing.md"}
    assert desk.find("atencion") == desk.find("atención") != []
    kinds = {row.card.kind for row in desk.find(f'"{TRANSFER}"')}
    assert kinds == {"qa", "cloze"}  # the question card, and a cloze under that heading


def _text(row) -> str:
    return f"{row.card.front} {row.card.back}".lower()


def test_the_table_rows_say_text_note_status_and_id(desk):
    row = _transfer(desk)
    ((front, back, note, status, card_id),) = browse_rows([row])
    assert front == TRANSFER and back and len(back) <= 90
    assert (note, status, card_id) == ("preguntas_nlp_llm.md", "nueva", row.card.id)


# -- editing -------------------------------------------------------------------------------


def test_editing_survives_a_rebuild(desk, index, notes):
    """The edit keeps the card's id and reviews; rebuilds from unchanged notes, from an
    edit elsewhere in the note and from an edit of the card's own section keep the
    student's text (the last gives the card the new section's id, reviews following)."""
    row = _transfer(desk)
    _review(desk, row.card.id)
    edited = desk.edit_card(row.card.id, "  ¿Para qué sirve el Transfer Learning?  ", "Mi resumen.")
    assert edited.card.id == row.card.id and edited.edited
    assert (edited.card.front, edited.card.back) == (
        "¿Para qué sirve el Transfer Learning?",
        "Mi resumen.",
    )
    assert (
        edited.state == desk.card(row.card.id).state
        and status_label(edited) == "aprendiendo · editada"
    )

    _rebuild(desk, index)
    again = desk.card(row.card.id)
    assert (again.card.front, again.card.back, again.edited) == (
        edited.card.front,
        "Mi resumen.",
        True,
    )
    assert again.state == edited.state and len(_reviews(desk, row.card.id)) == 1

    note = notes / "preguntas_nlp_llm.md"
    text = note.read_text(encoding="utf-8")
    span = text[row.card.start : row.card.end].rstrip()
    note.write_text(
        "Una línea nueva al principio.\n\n" + text.replace(span, span + " Y una frase más.", 1),
        encoding="utf-8",
    )
    _rebuild(desk, index, days=2)
    (moved,) = [r for r in desk.find("") if r.card.front == edited.card.front]
    assert moved.card.id != row.card.id  # the section's text changed: so did its id
    assert (moved.card.back, moved.edited, moved.state) == ("Mi resumen.", True, edited.state)
    assert len(_reviews(desk, moved.card.id)) == 1
    assert TRANSFER not in {r.card.front for r in desk.find("")}
    with Deck.open(desk.deck_path) as deck:  # the notes' own text under the edit, refreshed
        notes_back = deck._connection.execute(
            "SELECT back FROM cards WHERE id = ?", (moved.card.id,)
        ).fetchone()[0]
    built = {card.id: card for card in build_cards(load_notes(notes).notes)}
    assert notes_back == built[moved.card.id].back


def test_text_equal_to_the_notes_is_no_edit_and_empty_text_is_refused(desk):
    row = _transfer(desk)
    desk.edit_card(row.card.id, row.card.front, "Otra respuesta.")
    restored = desk.edit_card(row.card.id, row.card.front, row.card.back)
    assert not restored.edited and restored.card == row.card
    for front, back in [("", "algo"), ("algo", "   "), (None, "algo")]:
        with pytest.raises(BrowseError, match="frente y reverso"):
            desk.edit_card(row.card.id, front, back)
    with pytest.raises(DeckError, match="No hay ninguna tarjeta"):
        desk.edit_card("0" * 16, "a", "b")


# -- suspending and deleting ---------------------------------------------------------------


def test_a_suspended_card_is_never_due_until_resumed_and_a_rebuild_keeps_it_so(desk, index):
    row = _transfer(desk)
    assert row.card.id in _drawn(desk)
    suspended = desk.suspend_card(row.card.id)
    assert suspended.status == "suspended" and suspended.state == row.state
    assert row.card.id not in {*_drawn(desk), *_due_ids(desk), *_active_ids(desk)}
    assert status_label(_transfer(desk)) == "suspendida"  # still found
    _rebuild(desk, index)
    assert desk.card(row.card.id).status == "suspended"
    assert row.card.id not in _due_ids(desk)

    resumed = desk.resume_card(row.card.id)
    assert resumed.status == "new" and resumed.state == row.state
    assert row.card.id in _drawn(desk) and row.card.id in _active_ids(desk)


def test_a_deleted_card_is_hidden_never_due_and_keeps_its_reviews(desk, index):
    row = _transfer(desk)
    _review(desk, row.card.id)
    total = len(desk.find(""))
    deleted = desk.delete_card(row.card.id)
    assert deleted.status == "deleted" and deleted.deleted is not None
    assert row not in desk.find(f'"{TRANSFER}"') and len(desk.find("")) == total - 1
    assert row.card.id not in {*_drawn(desk), *_due_ids(desk), *_active_ids(desk)}
    assert len(_reviews(desk, row.card.id)) == 1  # the history stays
    _rebuild(desk, index)  # built again from the notes: still deleted, not a new card
    assert desk.card(row.card.id).status == "deleted" and len(desk.find("")) == total - 1
    assert desk.stats(now=T0)["reviews"] == 1


def test_a_deleted_card_is_undeleted_with_its_id_schedule_and_reviews(desk, index):
    row = _transfer(desk)
    _review(desk, row.card.id)
    reviewed = desk.card(row.card.id)
    other = desk.find("#rnn")[0]
    assert desk.find(deleted=True) == []
    desk.delete_card(row.card.id)
    desk.delete_card(other.card.id)
    listed = desk.find(deleted=True)  # the last deleted first
    assert [r.card.id for r in listed] == [other.card.id, row.card.id]
    assert [r.card.id for r in desk.find("#rnn", deleted=True)] == [other.card.id]
    ((label, card_id),) = deleted_choices(desk.find(f'"{TRANSFER}"', deleted=True))
    assert card_id == row.card.id and label.startswith(TRANSFER) and "borrada el" in label

    restored = desk.undelete_card(row.card.id)
    assert (restored.card.id, restored.status, restored.deleted) == (row.card.id, "learning", None)
    assert restored.state == reviewed.state and len(_reviews(desk, row.card.id)) == 1
    assert row.card.id in _active_ids(desk) and row.card.id in _due_ids(desk)
    assert [r.card.id for r in desk.find(deleted=True)] == [other.card.id]
    _rebuild(desk, index)  # a rebuild keeps it in study
    assert desk.card(row.card.id).status == "learning"

    with pytest.raises(DeckError, match="no está borrada"):
        desk.undelete_card(row.card.id)
    with pytest.raises(DeckError, match="No hay ninguna tarjeta"):
        desk.undelete_card("0" * 16)
    # Suspended before it was deleted: restored, it is still suspended.
    desk.suspend_card(other.card.id)
    assert desk.undelete_card(other.card.id).status == "suspended"


# -- adding by hand ------------------------------------------------------------------------


def test_a_card_added_by_hand_is_due_and_points_to_its_section(desk, index):
    sections = desk.sections()
    assert [s.label for s in sections[TAGGED]] == [
        "Redes recurrentes",
        "Redes recurrentes > ¿Qué es una RNN?",
        SECTION,
    ]
    row = desk.add_card(
        TAGGED, SECTION, "¿Qué resume el estado oculto?", "Lo visto hasta ese paso.", now=T0
    )
    assert row.manual and row.status == "new" and status_label(row) == "nueva · a mano"
    assert (row.card.kind, row.card.source, row.card.heading) == ("qa", TAGGED, SECTION)
    assert row.card.id in _due_ids(desk)
    chunks = {chunk.id: chunk for chunk in index.chunks}
    passage = card_passage(row.card, chunks)
    assert "resume lo que la red ha visto" in passage.text and passage.heading == SECTION
    # In note order: the note's cards stay together, the new one after its section's start.
    with Deck.open(desk.deck_path) as deck:
        order = [r.card.source for r in deck.cards()]
    first, last = order.index(TAGGED), len(order) - order[::-1].index(TAGGED)
    assert set(order[first:last]) == {TAGGED}

    for source, section, message in [
        (None, SECTION, "Elige la nota"),
        ("otra.md", SECTION, "No hay ninguna nota"),
        (TAGGED, "No existe", "Elige una sección de recurrentes.md"),
    ]:
        with pytest.raises(BrowseError, match=message):
            desk.add_card(source, section, "a", "b")
    with pytest.raises(BrowseError, match="frente y reverso"):
        desk.add_card(TAGGED, SECTION, "¿Algo?", "")


def test_a_card_added_by_hand_stays_through_rebuilds_and_leaves_with_its_note(desk, index, notes):
    row = desk.add_card(TAGGED, SECTION, "¿Qué resume el estado oculto?", "Lo visto.", now=T0)
    _review(desk, row.card.id)
    _rebuild(desk, index)
    again = desk.card(row.card.id)
    assert again.status == "learning" and again.card.front == row.card.front
    edited = desk.edit_card(row.card.id, row.card.front, "Lo visto hasta ese paso.")
    assert edited.card.back == "Lo visto hasta ese paso." and edited.manual

    moved = notes.parent / "fuera.md"
    (notes / TAGGED).rename(moved)
    _rebuild(desk, index, days=2)
    assert desk.card(row.card.id).status == "retired" and row.card.id not in _due_ids(desk)
    moved.rename(notes / TAGGED)
    _rebuild(desk, index, days=3)
    back = desk.card(row.card.id)
    assert back.retired is None and back.card.back == "Lo visto hasta ese paso."
    assert len(_reviews(desk, row.card.id)) == 1


# -- the deck's columns --------------------------------------------------------------------


def test_an_older_deck_gets_the_browsers_columns_and_stays_readable(desk, index):
    """A deck made before the browser (its columns dropped here, a retired card in it):
    opened, it gains them in one go, its retired card is one that left the notes, and
    every card and review reads as before."""
    row = _transfer(desk)
    _review(desk, row.card.id)
    with Deck.open(desk.deck_path) as deck:
        before = (deck.cards(include_retired=True), deck.reviews())
        gone = before[0][1].card.id
    connection = sqlite3.connect(desk.deck_path)
    with connection:
        for name in schema.COLUMNS:
            connection.execute(f"ALTER TABLE cards DROP COLUMN {name}")
        connection.execute("UPDATE cards SET retired = ? WHERE id = ?", (T0.isoformat(), gone))
    connection.close()

    with Deck.open(desk.deck_path) as deck:
        assert schema.missing_columns(deck._connection) == []
        cards = {r.card.id: r for r in deck.cards(include_retired=True)}
        assert cards[gone].status == "retired" and deck.reviews() == before[1]
        assert [r for i, r in cards.items() if i != gone] == [
            r for r in before[0] if r.card.id != gone
        ]
        (stored,) = deck._connection.execute("SELECT gone FROM cards WHERE id = ?", (gone,))
        assert stored[0] == T0.isoformat()
    _rebuild(desk, index)
    assert desk.card(gone).retired is None  # still in the notes: back in study


# -- Anki both ways, from the app ----------------------------------------------------------


def test_the_apps_anki_export_carries_the_schedule_and_the_edits(desk, tmp_path):
    row = _transfer(desk)
    _review(desk, row.card.id)
    _review(desk, row.card.id, "easy")
    desk.edit_card(row.card.id, row.card.front, "Mi resumen.")
    package, written = desk.export("apkg")
    assert written == len(_active_ids(desk))
    collection = tmp_path / "collection.anki2"
    collection.write_bytes(zipfile.ZipFile(package).read("collection.anki2"))
    connection = sqlite3.connect(collection)
    (revlog,) = connection.execute("SELECT COUNT(*) FROM revlog").fetchone()
    fields, queue = connection.execute(
        "SELECT n.flds, c.queue FROM notes n JOIN cards c ON c.nid = n.id WHERE n.guid = ?",
        (row.card.id,),
    ).fetchone()
    connection.close()
    assert revlog == 2 and queue == 2  # both reviews, and the card is in review
    assert fields.split("\x1f")[1] == "Mi resumen."


@pytest.fixture
def app(desk, notes, tmp_path):
    """The app on the desk's deck; its chat is never asked."""
    return study_app.StudyApp(
        notes,
        tmp_path / "index",
        lambda *a: pytest.fail("no chat"),
        deck_path=desk.deck_path,
        make_checker=OverlapChecker,
        study_dir=tmp_path / "study",
    )


def test_the_apps_anki_import_merges_reviews_and_says_it_in_one_line(desk, app, tmp_path):
    row = _transfer(desk)
    _review(desk, row.card.id)
    package, _ = desk.export("apkg")
    report = desk.import_anki(package)
    assert (report.added, report.duplicates) == (0, 1)

    line = app.study_import(str(package))
    assert line.startswith(f"Importados 0 repasos nuevos de {package.name}") and "\n" not in line
    assert package.exists()  # not an upload of Gradio's: left where it is
    assert app.study_import(None) == ""
    bad = tmp_path / "mazo.zip"
    bad.write_bytes(b"no")
    with pytest.raises(gr.Error, match="apkg o .colpkg"):
        app.study_import(str(bad))


# -- the app's callbacks -------------------------------------------------------------------


def _visible(update) -> bool:
    """An update's visibility: a component (gr.Column(visible=...)) or a gr.update dict."""
    return update["visible"] if isinstance(update, dict) else update.visible


LINE, TABLE, PICKED, EDITOR, ABOUT, FRONT, BACK, SUSPEND, RESUME, CONFIRM = range(10)


def test_the_browser_callbacks_find_pick_edit_suspend_delete_and_add(app):
    found = app.cards_find("#rnn")
    assert found["value"] and found["label"].startswith(f"{len(found['value'])} tarjeta")
    (row,) = [row for row in app.cards_find(f'"{TRANSFER}"')["value"] if row[0] == TRANSFER]
    picked = app.cards_pick(
        gr.SelectData(None, {"index": [0, 1], "value": row[1], "row_value": row})
    )
    card_id = row[-1]
    assert picked[0] == card_id and _visible(picked[1]) and picked[3] == TRANSFER
    assert r"**preguntas\_nlp\_llm.md — " in picked[2] and "· Pregunta ·" in picked[2]

    phrase = f'"{TRANSFER}" nota:preguntas'  # the question card and a cloze under it
    saved = app.cards_save(card_id, TRANSFER, "Mi resumen.", phrase)
    assert saved[LINE].startswith("Guardada") and saved[BACK] == "Mi resumen."
    assert [row[1] for row in saved[TABLE]["value"] if row[-1] == card_id] == ["Mi resumen."]
    cloze = [row for row in saved[TABLE]["value"] if row[-1] != card_id]
    suspended = app.cards_suspend(card_id, "")
    assert not _visible(suspended[SUSPEND]) and _visible(suspended[RESUME])
    assert _visible(app.cards_resume(card_id, "")[SUSPEND])
    box, question = app.cards_confirm_delete(card_id)
    assert _visible(box) and TRANSFER in question
    deleted = app.cards_delete(card_id, phrase)
    assert deleted[PICKED] is None and not _visible(deleted[EDITOR])
    assert [row[0] for row in deleted[TABLE]["value"]] == [row[0] for row in cloze]
    assert deleted[TABLE]["label"] == "1 tarjeta"
    with pytest.raises(gr.Error, match="Elige una tarjeta"):
        app.cards_save(None, "a", "b", "")

    listed = app.cards_deleted()
    assert [value for _, value in listed["choices"]] == [card_id]
    assert listed["label"] == "Tarjetas borradas: 1" and listed["value"] is None
    restored = app.cards_undelete(card_id, phrase)
    assert restored[LINE].startswith("Recuperada: el mismo id") and restored[PICKED] == card_id
    assert _visible(restored[EDITOR]) and restored[BACK] == "Mi resumen."
    assert restored[TABLE]["label"] == "2 tarjetas"
    assert restored[-1]["choices"] == [] and restored[-1]["label"] == "No hay tarjetas borradas"
    with pytest.raises(gr.Error, match="Elige una tarjeta borrada"):
        app.cards_undelete(None, "")
    with pytest.raises(gr.Error, match="no está borrada"):
        app.cards_undelete(card_id, "")

    assert TAGGED in app.cards_notes()["choices"]
    sections = app.cards_sections(TAGGED)
    assert sections["value"] == "Redes recurrentes" and SECTION in sections["choices"]
    added = app.cards_add(TAGGED, SECTION, "¿Qué resume el estado oculto?", "Lo visto.", "")
    assert added[LINE].startswith(f"Añadida a {TAGGED}") and added[-2:] == ("", "")
    assert added[FRONT] == "¿Qué resume el estado oculto?" and "a mano" in added[ABOUT]
    assert "sale" not in added[ABOUT]  # a new card comes with the day's new cards
    with pytest.raises(gr.Error, match="frente y reverso"):
        app.cards_add(TAGGED, SECTION, "", "", "")


def test_the_study_tab_has_the_browser_and_the_anki_import(app):
    demo = study_app.build_ui(app)
    ids = {block.elem_id for block in demo.blocks.values()}
    wanted = {"cards-query", "cards-table", "cards-front", "cards-back", "cards-save"}
    wanted |= {"cards-suspend", "cards-resume", "cards-delete", "cards-confirm-delete"}
    wanted |= {"cards-new-note", "cards-new-section", "cards-add", "study-import"}
    wanted |= {"cards-deleted", "cards-undelete"}
    assert wanted <= ids


# -- the command line ----------------------------------------------------------------------


def test_the_command_line_finds_edits_suspends_deletes_and_adds(desk, notes, capsys):
    deck = ["--deck", str(desk.deck_path), "--notes", str(notes)]
    assert main(["cards", "find", *deck, "#rnn"]) == 0
    out = capsys.readouterr().out
    assert TAGGED in out and out.strip().endswith("tarjetas")
    card_id = _transfer(desk).card.id
    assert main(["cards", "edit", *deck, "--card", card_id, "--back", "Mi resumen."]) == 0
    assert desk.card(card_id).card.back == "Mi resumen."
    assert desk.card(card_id).card.front == TRANSFER
    for action, status in [("suspend", "suspended"), ("resume", "new"), ("delete", "deleted")]:
        assert main(["cards", action, *deck, "--card", card_id]) == 0
        assert desk.card(card_id).status == status
    add = ["--note", TAGGED, "--section", SECTION, "--front", "¿Qué?", "--back", "Esto."]
    assert main(["cards", "add", *deck, *add]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("Añadida")
    assert main(["cards", "edit", *deck, "--card", card_id]) == 2
    assert "--front, --back" in capsys.readouterr().err

    assert main(["cards", "find", *deck, "--deleted"]) == 0
    out = capsys.readouterr().out
    assert card_id in out and "borrada" in out and "cards undelete ID" in out
    assert main(["cards", "undelete", *deck, card_id, "--json"]) == 0  # the id, or --card ID
    assert json.loads(capsys.readouterr().out)["status"] == "new"
    assert desk.card(card_id).status == "new" and desk.find(deleted=True) == []
    for wrong, message in [
        ([card_id], "no está borrada"),
        ([], "Indica el id"),
        ([card_id, "--card", "0" * 16], "Dos ids distintos"),
    ]:
        assert main(["cards", "undelete", *deck, *wrong]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_rating_a_suspended_or_deleted_card_says_why_it_cannot(desk):
    card_id = _transfer(desk).card.id
    with Deck.open(desk.deck_path) as deck:
        deck.suspend(card_id, now=T0)
        with pytest.raises(DeckError, match="está suspendida"):
            deck.review(card_id, "good", now=T0)
        deck.delete(card_id, now=T0)
        with pytest.raises(DeckError, match="está borrada"):
            deck.review(card_id, "good", now=T0)
