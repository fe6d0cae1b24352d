"""The SQLite deck: sync keeps ids and history across note edits, every write is one
transaction (a crash loses at most the review in flight), a damaged file is reported in
one line and its backup restores it, and the deck never lives in the notes folder."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.study import review_log
from assistant.study.cards import build_cards
from assistant.study.deck import Deck
from assistant.study.schedule import ScheduleConfig
from assistant.study.storage import (
    DeckCorruptError,
    DeckError,
    backup_path,
    restore_backup,
)
from corpus.errors import AssistantError
from corpus.loader import load_notes
from corpus.paths import default_deck_path
from tests.conftest import ROOT

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DESVENTAJAS = "¿Cuáles son las desventajas de Teacher Forcing en Modelos de Lenguaje?"
VENTAJAS = "¿Cuáles son las ventajas de Teacher Forcing en Modelos de Lenguaje?"


def _cards(notes_dir: Path):
    return build_cards(load_notes(notes_dir).notes)


def _by_front(deck: Deck, front: str, include_retired: bool = False):
    rows = [r for r in deck.cards(include_retired) if r.card.front == front]
    assert len(rows) == 1, [r.card for r in rows]
    return rows[0]


@pytest.fixture
def deck_path(tmp_path) -> Path:
    return tmp_path / "decks" / "deck.sqlite"


@pytest.fixture
def built(notes_copy, deck_path):
    """A deck synced from a copy of the notes, with one review of the Desventajas card."""
    with Deck.open(deck_path, create=True, notes_dir=notes_copy) as deck:
        report = deck.sync(_cards(notes_copy), now=T0)
        deck.review(_by_front(deck, DESVENTAJAS).card.id, "good", now=T0)
    return report


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_first_sync_adds_every_card(built, notes_copy, deck_path):
    total = len(_cards(notes_copy))
    assert built.to_dict() == {"cards": total, "new": total, "updated": 0, "retired": 0}
    with Deck.open(deck_path) as deck:
        assert len(deck.cards()) == total
        # one was reviewed: the first of today's 20 new cards (ScheduleConfig.new_per_day)
        assert len(deck.due(now=T0 + timedelta(seconds=1))) == 20 - 1


def test_an_unrelated_edit_keeps_every_id_and_the_history(built, notes_copy, deck_path):
    with Deck.open(deck_path) as deck:
        before = {r.card.id: r for r in deck.cards()}
        reviewed = _by_front(deck, DESVENTAJAS)
    # A paragraph with no card in it, early in the note: every later span shifts.
    _edit(
        notes_copy / "teacher_forcing.md",
        "\n\nTeacher Forcing es",
        "\n\nApuntes de clase.\n\nTeacher Forcing es",
    )
    with Deck.open(deck_path, notes_dir=notes_copy) as deck:
        report = deck.sync(_cards(notes_copy), now=T0 + timedelta(days=1))
        after = {r.card.id: r for r in deck.cards()}
        assert report.to_dict() == {"cards": len(before), "new": 0, "updated": 0, "retired": 0}
        assert after.keys() == before.keys()
        moved = after[reviewed.card.id]
        assert moved.card.start == reviewed.card.start + len("Apuntes de clase.\n\n")
        assert moved.state == reviewed.state and moved.state.state != "new"
        assert len(deck.reviews(reviewed.card.id)) == 1


def test_an_edited_section_updates_its_card_and_keeps_its_history(built, notes_copy, deck_path):
    with Deck.open(deck_path) as deck:
        old = _by_front(deck, DESVENTAJAS)
        total = len(deck.cards())
    _edit(
        notes_copy / "teacher_forcing.md",
        "- **Discrepancia de Exposición**",
        "- **Coste**: Hace falta la secuencia correcta.\n- **Discrepancia de Exposición**",
    )
    with Deck.open(deck_path, notes_dir=notes_copy) as deck:
        report = deck.sync(_cards(notes_copy), now=T0 + timedelta(days=1))
        new = _by_front(deck, DESVENTAJAS)
        assert report.to_dict() == {"cards": total, "new": 0, "updated": 1, "retired": 0}
        assert new.card.id != old.card.id
        assert "- Coste" in new.card.back
        assert new.state == old.state  # the schedule carries over
        assert [r.card_id for r in deck.reviews()] == [new.card.id]  # the log follows the id


def test_a_deleted_section_retires_its_card_and_keeps_its_history(built, notes_copy, deck_path):
    with Deck.open(deck_path) as deck:
        ventajas = _by_front(deck, VENTAJAS)
        deck.review(ventajas.card.id, "again", now=T0)
        total = len(deck.cards())
    note = notes_copy / "teacher_forcing.md"
    text = note.read_text(encoding="utf-8")
    start, end = text.index("## Ventajas"), text.index("## Desventajas")
    note.write_text(text[:start] + text[end:], encoding="utf-8")
    later = T0 + timedelta(days=30)
    with Deck.open(deck_path, notes_dir=notes_copy) as deck:
        report = deck.sync(_cards(notes_copy), now=later)
        assert report.to_dict() == {"cards": total - 1, "new": 0, "updated": 0, "retired": 1}
        retired = _by_front(deck, VENTAJAS, include_retired=True)
        assert retired.status == "retired" and retired.card.id == ventajas.card.id
        assert ventajas.card.id not in {r.card.id for r in deck.due(now=later)}
        assert ventajas.card.id not in {r.card.id for r in deck.cards()}
        assert len(deck.reviews(ventajas.card.id)) == 1
        with pytest.raises(DeckError, match="retirada"):
            deck.review(ventajas.card.id, "good", now=later)
    note.write_text(text, encoding="utf-8")  # the section comes back, and so does its card
    with Deck.open(deck_path, notes_dir=notes_copy) as deck:
        report = deck.sync(_cards(notes_copy), now=later)
        assert report.to_dict() == {"cards": total, "new": 0, "updated": 1, "retired": 0}
        assert _by_front(deck, VENTAJAS).status == "learning"


def test_a_failure_inside_a_review_rolls_it_back_whole(built, deck_path, monkeypatch):
    with Deck.open(deck_path) as deck:
        first, second = [r.card.id for r in deck.due(now=T0 + timedelta(seconds=1), limit=2)]
        deck.review(first, "good", now=T0)

        def crash(*args, **kwargs):
            raise RuntimeError("killed between the card update and the log row")

        monkeypatch.setattr(review_log, "append_review", crash)
        with pytest.raises(RuntimeError):
            deck.review(second, "good", now=T0)
    with Deck.open(deck_path) as deck:
        assert deck.get(second).state.state == "new"  # its card update was rolled back
        assert deck.get(first).state.state == "learning"
        assert [r.card_id for r in deck.reviews()].count(first) == 1
        assert second not in {r.card_id for r in deck.reviews()}


KILLED_MID_REVIEW = """
import os, signal, sys
from assistant.study import review_log
from assistant.study.deck import Deck

deck = Deck.open(sys.argv[1])
deck.review(sys.argv[2], "good")

def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)  # the card row is updated, the log row is not

review_log.append_review = die
deck.review(sys.argv[3], "easy")
"""


def test_a_process_killed_mid_review_loses_only_that_review(built, deck_path):
    with Deck.open(deck_path) as deck:
        first, second = [r.card.id for r in deck.due() if r.state.state == "new"][:2]
        logged = len(deck.reviews())
    result = subprocess.run(
        [sys.executable, "-c", KILLED_MID_REVIEW, str(deck_path), first, second],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == -9, result.stderr.decode()
    with Deck.open(deck_path) as deck:  # SQLite replays its journal: the file is whole
        assert deck.get(first).state.state == "learning"
        assert deck.get(second).state.state == "new"
        assert len(deck.reviews()) == logged + 1


def test_a_corrupted_deck_is_one_line_and_the_backup_restores_it(built, deck_path):
    assert backup_path(deck_path).exists()
    with Deck.open(deck_path) as deck:
        cards, reviews = len(deck.cards()), len(deck.reviews())
    deck_path.write_bytes(b"\x00garbage, not a database\xff" * 400)
    with pytest.raises(DeckCorruptError) as caught:
        Deck.open(deck_path)
    message = str(caught.value)
    assert isinstance(caught.value, AssistantError) and "\n" not in message
    assert "dañado" in message and "cards restore" in message
    restore_backup(deck_path)
    with Deck.open(deck_path) as deck:
        assert (len(deck.cards()), len(deck.reviews())) == (cards, reviews)
    assert deck_path.with_name(deck_path.name + ".damaged").read_bytes().startswith(b"\x00garbage")


def test_a_corrupted_deck_without_backup_says_so(tmp_path):
    path = tmp_path / "deck.sqlite"
    Deck.open(path, create=True).close()
    data = bytearray(path.read_bytes())
    data[100:] = b"garbage" * ((len(data) - 100) // 7) + b"g" * ((len(data) - 100) % 7)
    path.write_bytes(bytes(data))  # the SQLite header kept, the pages destroyed
    with pytest.raises(DeckCorruptError, match="no tiene copia de seguridad"):
        Deck.open(path)
    # Garbage from the first byte is not called a deck at all.
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(DeckCorruptError, match="no es un mazo"):
        Deck.open(path)
    with pytest.raises(DeckError, match="No hay copia"):
        restore_backup(path)


def test_a_sqlite_file_that_is_not_a_deck_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    with pytest.raises(DeckError, match="no un mazo"):
        Deck.open(path)


def test_a_missing_deck_is_not_created_by_readers(tmp_path):
    with pytest.raises(DeckError, match="No existe el mazo"):
        Deck.open(tmp_path / "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()


def test_a_deck_inside_the_notes_folder_is_refused(notes_copy):
    for inside in (notes_copy / "deck.sqlite", notes_copy / "sub" / "deck.sqlite"):
        with pytest.raises(DeckError, match="dentro de la carpeta de notas") as caught:
            Deck.open(inside, create=True, notes_dir=notes_copy)
        assert "\n" not in str(caught.value)
        assert not inside.exists()


def test_the_default_deck_lives_in_the_cache(monkeypatch, tmp_path, notes_copy):
    monkeypatch.setenv("STUDY_ASSISTANT_CACHE", str(tmp_path / "cache"))
    path = default_deck_path(notes_copy)
    assert path.parent == tmp_path / "cache" / "decks" and path.suffix == ".sqlite"
    assert default_deck_path(notes_copy) == path != default_deck_path(tmp_path)


def test_the_scheduler_settings_are_stored_and_kept(deck_path, notes_copy):
    with Deck.open(
        deck_path, create=True, schedule_config=ScheduleConfig(desired_retention=0.8)
    ) as deck:
        assert deck.config.desired_retention == 0.8
    with Deck.open(deck_path) as deck:  # no setting given: the stored one
        assert deck.config.desired_retention == 0.8


def test_sync_refuses_duplicate_ids(deck_path, notes_copy):
    cards = _cards(notes_copy)
    with Deck.open(deck_path, create=True) as deck, pytest.raises(ValueError, match="distinct"):
        deck.sync(cards + cards[:1])


def test_edited_duplicate_questions_keep_their_own_histories(notes_copy, deck_path):
    """The notes ask "¿Qué es el encoder?" twice (15 and 37): when both are edited, each
    new card takes the history of the old one nearest to it in the note."""
    front = "¿Qué es el encoder?"

    def encoders(deck):
        return sorted(
            (r for r in deck.cards() if r.card.front == front), key=lambda r: r.card.start
        )

    with Deck.open(deck_path, create=True) as deck:
        deck.sync(_cards(notes_copy), now=T0)
        first, second = encoders(deck)
        deck.review(second.card.id, "good", now=T0)
    note = notes_copy / "preguntas_nlp_llm.md"
    _edit(note, "Facilitan el entrenamiento.", "Facilitan el entrenamiento estable.")  # 15
    _edit(
        note,
        "Facilitan el entrenamiento profundo.",
        "Facilitan el entrenamiento profundo y estable.",
    )  # 37
    with Deck.open(deck_path) as deck:
        report = deck.sync(_cards(notes_copy), now=T0)
        assert (report.new, report.updated, report.retired) == (0, 2, 0)
        new_first, new_second = encoders(deck)
        assert {new_first.card.id, new_second.card.id}.isdisjoint({first.card.id, second.card.id})
        assert not deck.reviews(new_first.card.id) and new_first.state.state == "new"
        assert len(deck.reviews(new_second.card.id)) == 1 and new_second.state.state == "learning"
