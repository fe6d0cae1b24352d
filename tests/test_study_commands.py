"""The ``cards`` and ``study`` subcommands through their functions, parsed as the CLI will
parse them, with --json output read back."""

from __future__ import annotations

import argparse
import csv
import io
import json
import zipfile

import pytest

from assistant.cli.notebooks import apply_notebook
from assistant.cli.study import add_cards_parser, add_parsers, add_study_parser, run_study
from assistant.study.deck import Deck
from assistant.study.export import ExportError
from assistant.study.quiz import multiple_choice
from assistant.study.storage import DeckError
from corpus.errors import AssistantError, NotesError, SettingsError

LIST_KEYS = {"id", "kind", "front", "back", "source", "heading", "chunk_id", "due", "state"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


def run(argv: list[str]) -> int:
    args = _parser().parse_args([str(a) for a in argv])
    apply_notebook(args)  # as assistant/cli/main.py does
    return args.func(args)


def run_json(argv, capsys):
    capsys.readouterr()
    assert run([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def deck(tmp_path, notes_copy, capsys):
    path = tmp_path / "deck.sqlite"
    report = run_json(["cards", "build", "--notes", notes_copy, "--deck", path], capsys)
    assert report["new"] == report["cards"] > 100 and report["updated"] == report["retired"] == 0
    return path


def test_build_is_idempotent(deck, notes_copy, capsys):
    again = run_json(["cards", "build", "--notes", notes_copy, "--deck", deck], capsys)
    assert again == {"cards": again["cards"], "new": 0, "updated": 0, "retired": 0}


def test_list_and_due(deck, capsys):
    listed = run_json(["cards", "list", "--deck", deck], capsys)
    assert listed and all(set(row) == LIST_KEYS for row in listed)
    assert {row["state"] for row in listed} == {"new"}
    due = run_json(["cards", "due", "--deck", deck, "--limit", 3], capsys)
    assert [row["id"] for row in due] == [row["id"] for row in listed[:3]]


def test_review_reports_the_new_schedule(deck, capsys):
    card = run_json(["cards", "list", "--deck", deck], capsys)[0]["id"]
    reviewed = run_json(
        ["cards", "review", "--deck", deck, "--card", card, "--rating", "good"], capsys
    )
    assert set(reviewed) == {"id", "due", "stability", "difficulty", "state"}
    assert reviewed["id"] == card and reviewed["state"] == "learning" and reviewed["stability"] > 0
    due_ids = [row["id"] for row in run_json(["cards", "due", "--deck", deck], capsys)]
    assert card not in due_ids  # due in 10 minutes
    with Deck.open(deck) as opened:
        assert len(opened.reviews(card)) == 1


def test_export_anki_and_csv(deck, tmp_path, capsys):
    total = len(run_json(["cards", "list", "--deck", deck], capsys))
    out = run_json(["cards", "export", "--deck", deck, "--anki", tmp_path / "m.apkg"], capsys)
    assert out["cards"] == total
    assert "collection.anki2" in zipfile.ZipFile(tmp_path / "m.apkg").namelist()
    run(["cards", "export", "--deck", deck, "--csv", tmp_path / "m.csv"])
    rows = [
        r
        for r in csv.reader(io.StringIO((tmp_path / "m.csv").read_text()))
        if not r[0].startswith("#")
    ]
    assert len(rows) == total


def test_stats_and_plot(deck, tmp_path, capsys):
    stats = run_json(["cards", "stats", "--deck", deck, "--plot", tmp_path / "r.png"], capsys)
    # a fresh deck: every card is new, and today lets in the first 20 of them
    assert stats["due_now"] == stats["new_today"] == 20 and stats["reviews"] == 0
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_restore_puts_back_the_backup(deck, capsys):
    deck.write_bytes(b"garbage" * 500)
    with pytest.raises(DeckError, match="cards restore"):
        run(["cards", "list", "--deck", deck])
    assert run(["cards", "restore", "--deck", deck]) == 0
    assert run_json(["cards", "list", "--deck", deck], capsys)


def test_the_study_loop_reviews_until_empty_input(deck, capsys):
    replies = iter(
        ["", "3", "", "x", "1", "", ""]
    )  # reveal, good, reveal, typo, again, reveal, quit
    shown: list[str] = []
    with Deck.open(deck) as opened:
        first, second = [row.card for row in opened.due(limit=2)]
        assert run_study(opened, read=lambda prompt: next(replies), write=shown.append) == 2
        assert opened.get(first.id).state.state == "learning"
        assert [r.rating for r in opened.reviews()] == ["good", "again"]
    text = "\n".join(shown)
    assert first.front in text and first.back in text and f"Fuente: {first.source}" in text
    assert "Escribe 1, 2, 3 o 4" in text and "Repasadas 2 tarjetas." in text


def test_the_choice_loop_checks_the_pick_and_enter_accepts_the_proposal(deck, backs):
    with Deck.open(deck) as opened:
        first, second = [row.card for row in opened.due(limit=2)]
        pool = [row.card for row in opened.cards()]
        right = [str(multiple_choice(c, pool).answer + 1) for c in (first, second)]
        wrong = str(int(right[1]) % 4 + 1)
        # first: the right option, Enter (Good); second: a typo, a wrong one, Enter
        # (Again); third: q
        replies = iter([right[0], "", "9", wrong, "", "q"])
        shown: list[str] = []
        reviewed = run_study(
            opened, read=lambda prompt: next(replies), write=shown.append, choices=True
        )
        assert reviewed == 2
        assert [r.rating for r in opened.reviews()] == ["good", "again"]
    text = "\n".join(shown)
    assert f"✓ Correcto. {first.back}" in text
    assert f"✗ No: la respuesta es la {right[1]}." in text
    assert "Escribe un número del 1 al 4" in text and "Repasadas 2 tarjetas." in text
    assert f"  {right[0]}) {first.back}" in text


def test_the_study_loop_stops_at_eof(deck, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n4\n"))  # reveal, easy, then EOF
    assert run(["study", "--deck", deck]) == 0
    assert "Repasadas 1 tarjetas." in capsys.readouterr().out
    with Deck.open(deck) as opened:
        assert [r.rating for r in opened.reviews()] == ["easy"]


@pytest.mark.parametrize(
    "argv, error, message",
    [
        (["cards", "review", "--card", "x", "--rating", "perfect"], SettingsError, "Valoración"),
        (["cards", "due", "--limit", "0"], SettingsError, "--limit"),
        (["study", "--limit", "-1"], SettingsError, "--limit"),
        (["cards", "export", "--anki", "{tmp}/m.zip"], ExportError, ".apkg"),
        (["cards", "export", "--csv", "{deck}"], ExportError, ".csv"),
        (["cards", "list"], DeckError, "No existe el mazo"),
        (["cards", "build", "--notes", "{tmp}/none"], NotesError, "No existe la carpeta"),
        (["cards", "build", "--retention", "1.5"], SettingsError, "--retention"),
    ],
)
def test_bad_input_is_one_spanish_line_before_any_slow_work(tmp_path, argv, error, message):
    missing = tmp_path / "missing.sqlite"  # never created: options fail before the deck
    argv = [a.format(tmp=tmp_path, deck=missing) for a in argv]
    with pytest.raises(error, match=message) as caught:
        run([*argv, "--deck", missing] if "--deck" not in argv else argv)
    assert isinstance(caught.value, AssistantError) and "\n" not in str(caught.value)
    assert not missing.exists()


def test_build_refuses_a_deck_inside_the_notes_before_reading_them(notes_copy):
    with pytest.raises(DeckError, match="dentro de la carpeta de notas"):
        run(["cards", "build", "--notes", notes_copy, "--deck", notes_copy / "d.sqlite"])
    assert not (notes_copy / "d.sqlite").exists()


def test_export_refuses_to_write_into_the_notes_the_deck_was_built_from(deck, notes_copy):
    with pytest.raises(ExportError, match="entrada"):
        run(["cards", "export", "--deck", deck, "--csv", notes_copy / "tarjetas.csv"])
    assert not (notes_copy / "tarjetas.csv").exists()


def test_both_parsers_register_with_help(capsys):
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    assert add_cards_parser(commands).prog.endswith("cards")
    assert add_study_parser(commands).prog.endswith("study")
    with pytest.raises(SystemExit):
        parser.parse_args(["cards", "export", "--anki", "a.apkg", "--csv", "b.csv"])
    assert "not allowed with" in capsys.readouterr().err
