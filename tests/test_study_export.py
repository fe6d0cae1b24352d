"""Export to Anki: an .apkg read back with sqlite3 (notes, guids = card ids, stable across
re-exports) and a CSV with Anki's text-import headers; never written over an input."""

from __future__ import annotations

import csv
import io
import sqlite3
import zipfile
from pathlib import Path

import pytest

from assistant.study.cards import build_cards
from assistant.study.export import (
    ANKI_DECK_ID,
    ANKI_MODEL_ID,
    ExportError,
    write_anki,
    write_csv,
)
from corpus.loader import load_notes
from tests.conftest import NOTES


@pytest.fixture(scope="module")
def cards():
    return build_cards(load_notes(NOTES).notes)


def _read_apkg(path: Path, tmp_path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        assert {"collection.anki2", "media"} <= set(archive.namelist())
        target = tmp_path / f"{path.stem}.anki2"
        target.write_bytes(archive.read("collection.anki2"))
    connection = sqlite3.connect(target)
    try:
        notes = connection.execute("SELECT guid, mid, flds, tags FROM notes").fetchall()
        models, decks = connection.execute("SELECT models, decks FROM col").fetchone()
        card_count = connection.execute("SELECT count(*) FROM cards").fetchone()[0]
    finally:
        connection.close()
    return {"notes": notes, "models": models, "decks": decks, "cards": card_count}


def test_an_anki_package_reads_back_with_one_note_per_card(cards, tmp_path):
    out = tmp_path / "out" / "mazo.apkg"
    assert write_anki(cards, out) == len(cards)
    package = _read_apkg(out, tmp_path)
    assert len(package["notes"]) == package["cards"] == len(cards)
    assert [guid for guid, *_ in package["notes"]] == [card.id for card in cards]
    assert {mid for _, mid, _, _ in package["notes"]} == {ANKI_MODEL_ID}
    assert str(ANKI_MODEL_ID) in package["models"] and str(ANKI_DECK_ID) in package["decks"]
    fields = package["notes"][0][2].split("\x1f")
    assert fields[0] == cards[0].front and len(fields) == 5  # Front, Back, Source, Passage, Id
    assert fields[4] == cards[0].id  # the import matches notes by it (test_study_anki.py)
    assert cards[0].source in fields[2]
    assert (
        "Menor uso de memoria"
        in dict((g, f) for g, _, f, _ in package["notes"])[
            next(c.id for c in cards if c.front == "¿Qué es LoRA?")
        ]
    )  # the whole passage travels with the card
    assert "asistente::qa" in package["notes"][0][3]


def test_a_re_export_keeps_the_guids(cards, tmp_path):
    first, second = tmp_path / "a.apkg", tmp_path / "b.apkg"
    write_anki(cards, first)
    write_anki(cards[::-1], second)
    guids = lambda path: {g for g, *_ in _read_apkg(path, tmp_path)["notes"]}  # noqa: E731
    assert guids(first) == guids(second) == {card.id for card in cards}


def test_fields_are_escaped_as_html(cards, tmp_path):
    card = next(c for c in cards if "\n" in c.back)
    out = tmp_path / "one.apkg"
    write_anki([card], out)
    back = _read_apkg(out, tmp_path)["notes"][0][2].split("\x1f")[1]
    assert "<br>" in back and "\n" not in back


def test_the_csv_has_anki_import_headers_and_one_row_per_card(cards, tmp_path):
    out = tmp_path / "mazo.csv"
    assert write_csv(cards, out) == len(cards)
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[:5] == [
        "#separator:Comma",
        "#html:false",
        "#columns:Front,Back,Source,Tags,GUID",
        "#tags column:4",
        "#guid column:5",
    ]
    rows = list(csv.reader(io.StringIO("\n".join(text.split("\n")[5:]))))
    assert len(rows) == len(cards)
    assert [row[4] for row in rows] == [card.id for card in cards]
    assert rows[0][:2] == [cards[0].front, cards[0].back]
    multiline = next(row for row, card in zip(rows, cards) if "\n" in card.back)
    assert "\n" in multiline[1]  # a list back survives as one quoted field


@pytest.mark.parametrize("writer, suffix", [(write_anki, ".apkg"), (write_csv, ".csv")])
def test_an_export_never_overwrites_an_input(cards, tmp_path, writer, suffix):
    deck = tmp_path / f"deck{suffix}"
    deck.write_bytes(b"precious")
    notes = tmp_path / "notes"
    with pytest.raises(ExportError, match="entrada"):
        writer(cards, deck, inputs=[deck])
    with pytest.raises(ExportError, match="entrada"):
        writer(cards, notes / f"x{suffix}", inputs=[notes])
    assert deck.read_bytes() == b"precious" and not notes.exists()


def test_an_export_needs_the_right_extension(cards, tmp_path):
    with pytest.raises(ExportError, match=r"\.apkg"):
        write_anki(cards, tmp_path / "mazo.zip")
    with pytest.raises(ExportError, match=r"\.csv"):
        write_csv(cards, tmp_path / "mazo.txt")


def test_an_export_leaves_no_temp_file(cards, tmp_path):
    write_anki(cards, tmp_path / "mazo.apkg")
    write_csv(cards, tmp_path / "mazo.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mazo.apkg", "mazo.csv"]
