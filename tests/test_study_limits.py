"""Scheduling like Anki (issue 28): a daily limit of new cards taken in note order, the
interval each rating gives shown on its button, a rating taken back exactly, and the
settings (new cards a day, desired retention) kept in the deck for the tab and the CLI.

Times are local noon, so that "today" (the machine's local day) holds every review a test
makes in it, whatever the machine's time zone."""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import datetime, timedelta

import pytest

import app as study_app
from assistant.cli.notebooks import apply_notebook
from assistant.cli.study import add_parsers, run_study
from assistant.study.cards import build_cards
from assistant.study.deck import Deck
from assistant.study.schedule import ScheduleConfig, preview
from assistant.study.schema import SCHEMA_VERSION
from assistant.study.storage import DeckError
from assistant.web.callbacks import STUDY_MODES
from assistant.web.card_html import rating_button
from assistant.web.study_desk import StudyDesk, StudyError, StudySession
from corpus.errors import SettingsError
from corpus.loader import load_notes
from index.store import build_index, open_index
from tests.conftest import NOTES
from tests.fakes import OverlapChecker

DAY1 = datetime(2025, 3, 3, 12, 0).astimezone()  # local noon
DAY2 = DAY1 + timedelta(days=1)
FLIP = STUDY_MODES[0]
# study_view's outputs, by position (as in test_study_app.py)
RATING_BUTTONS, UNDO = slice(9, 13), 13


@pytest.fixture(scope="module")
def cards():
    return build_cards(load_notes(NOTES).notes)


@pytest.fixture
def deck(tmp_path, cards):
    with Deck.open(tmp_path / "deck.sqlite", create=True) as deck:
        deck.sync(cards, now=DAY1 - timedelta(hours=1))
        yield deck


def _new(rows) -> list[str]:
    return [row.card.id for row in rows if row.state.state == "new"]


# -- the daily limit of new cards --------------------------------------------------------


def test_day_one_brings_20_new_cards_in_note_order_and_day_two_the_next_20(deck):
    order = [row.card.id for row in deck.cards()]  # note order
    assert len(order) > 100
    due = deck.due(DAY1)
    assert [row.card.id for row in due] == order[:20]
    for i, row in enumerate(due):  # learnt today: each takes one of today's places
        deck.review(row.card.id, "good", now=DAY1 + timedelta(seconds=i))
    later = deck.due(DAY1 + timedelta(hours=1))
    assert _new(later) == [] and len(later) == 20  # their ten-minute steps, nothing new
    assert deck.new_quota(DAY1 + timedelta(hours=1)) == 0
    assert _new(deck.due(DAY2)) == order[20:40]


@pytest.mark.parametrize("per_day", [0, 1, 5, 20, 200])
def test_due_holds_as_many_new_cards_as_the_day_has_places_for(deck, per_day):
    deck.configure(new_per_day=per_day)
    total = len(deck.cards())
    assert len(_new(deck.due(DAY1))) == min(per_day, total)
    first = deck.cards()[0].card.id
    deck.review(first, "easy", now=DAY1)
    assert len(_new(deck.due(DAY1))) == min(max(per_day - 1, 0), total - 1)
    assert len(deck.due(DAY1, limit=2)) == min(2, max(per_day - 1, 0))


def test_cards_already_studied_come_first_and_are_not_limited(deck):
    deck.configure(new_per_day=3)
    first, second = (row.card.id for row in deck.due(DAY1)[:2])
    deck.review(first, "again", now=DAY1)
    deck.review(second, "good", now=DAY1)
    due = deck.due(DAY1 + timedelta(minutes=15))
    assert [row.card.id for row in due[:2]] == [first, second]  # soonest due first
    assert len(_new(due)) == 1  # three places a day, two taken


def test_the_settings_are_kept_in_the_deck_and_leave_the_rest_as_it_was(tmp_path, cards):
    path = tmp_path / "deck.sqlite"
    with Deck.open(path, create=True, schedule_config=ScheduleConfig(maximum_interval_days=90)):
        pass
    with Deck.open(path) as deck:
        deck.configure(new_per_day=7, desired_retention=0.85)
    with Deck.open(path) as deck:
        assert deck.config == ScheduleConfig(
            maximum_interval_days=90, new_per_day=7, desired_retention=0.85
        )
        with pytest.raises(SettingsError, match="new_per_day"):
            deck.configure(new_per_day=-1)
        assert deck.config.new_per_day == 7


def test_a_learning_card_due_within_minutes_comes_when_nothing_else_is_due(deck):
    deck.configure(new_per_day=1)
    (row,) = deck.due(DAY1)
    deck.review(row.card.id, "good", now=DAY1)  # next step: ten minutes
    assert deck.due(DAY1) == []
    assert deck.next_card(DAY1).card.id == row.card.id  # Anki's learn-ahead: 20 minutes
    deck.configure(learn_ahead_minutes=5.0)
    assert deck.next_card(DAY1) is None


# -- undo --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "history, rating",
    [
        ([], "good"),  # new -> learning
        (["again"], "again"),  # learning, step 0
        (["good", "good"], "hard"),  # review
        (["good", "good", "again"], "good"),  # relearning
        (["good", "good", "good", "easy"], "again"),  # review, later
    ],
)
def test_undo_gives_the_card_back_exactly_the_state_it_had(deck, history, rating):
    card_id = deck.cards()[3].card.id
    now = DAY1
    for earlier in history:
        now = max(now, deck.get(card_id).state.due)
        deck.review(card_id, earlier, now=now)
    before, log, quota = deck.get(card_id), deck.reviews(), deck.new_quota(now)
    deck.review(card_id, rating, now=max(now, before.state.due))
    assert deck.get(card_id) != before
    restored = deck.undo()
    assert restored == before == deck.get(card_id)
    assert deck.reviews() == log and deck.new_quota(now) == quota


def test_undo_takes_back_the_named_cards_last_review_only(deck):
    first, second = (row.card.id for row in deck.due(DAY1)[:2])
    deck.review(first, "good", now=DAY1)
    kept = deck.get(second)
    deck.review(second, "easy", now=DAY1 + timedelta(seconds=1))
    after_second = deck.get(second)
    assert deck.undo(first).state.state == "new"
    assert deck.get(second) == after_second and [r.card_id for r in deck.reviews()] == [second]
    assert deck.undo() == kept
    with pytest.raises(DeckError, match="No hay ningún repaso que deshacer"):
        deck.undo()


def test_a_deck_from_before_undo_is_upgraded_and_its_old_reviews_stay(tmp_path, cards):
    path = tmp_path / "deck.sqlite"
    with Deck.open(path, create=True) as deck:
        deck.sync(cards, now=DAY1)
        deck.review(cards[0].id, "good", now=DAY1)
    with sqlite3.connect(path) as connection:  # as schema 1 wrote it
        connection.execute("ALTER TABLE review_log DROP COLUMN before")
        connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Deck.open(path) as deck:
        assert deck.meta("schema_version") == str(SCHEMA_VERSION)
        assert [r.rating for r in deck.reviews()] == ["good"]
        with pytest.raises(DeckError, match="no se puede deshacer") as caught:
            deck.undo()
        assert "\n" not in str(caught.value)
        deck.review(cards[1].id, "easy", now=DAY1)
        assert deck.undo().state.state == "new"


# -- the study tab -----------------------------------------------------------------------


@pytest.fixture
def desk(notes_copy, tmp_path, fake_embedder, fake_config):
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    index = open_index(notes_copy, tmp_path / "index")[0]
    desk = StudyDesk(tmp_path / "deck.sqlite", notes_copy, tmp_path / "study", OverlapChecker)
    desk.rebuild(index.chunks, index.chunk_config, now=DAY1 - timedelta(hours=1))
    return desk


def test_the_intervals_shown_are_the_ones_a_rating_gives(desk):
    with Deck.open(desk.deck_path) as deck:
        deck.configure(enable_fuzzing=False)  # so that a saved review lands exactly
    session = StudySession()
    view = desk.view(session, now=DAY1)
    minutes = {name: view.intervals[name] / timedelta(minutes=1) for name in view.intervals}
    # Anki's learning steps, 1 and 10 minutes (Difícil: halfway); Fácil graduates at once
    assert (minutes["again"], minutes["hard"], minutes["good"]) == (1, 5.5, 10)
    assert view.intervals["easy"] >= timedelta(days=1)
    desk.reveal(session)
    rated = desk.rate(session, "easy", now=DAY1)
    assert rated.state.due - DAY1 == view.intervals["easy"]
    with Deck.open(desk.deck_path) as deck:
        assert view.intervals == preview(view.row.state, DAY1, deck.config)


def test_undo_in_the_tab_brings_the_card_back_front_first(desk):
    session = StudySession()
    with pytest.raises(StudyError, match="que deshacer"):
        desk.undo(session)
    first = desk.view(session, now=DAY1).row
    desk.reveal(session)
    desk.rate(session, "again", now=DAY1)
    assert desk.view(session, now=DAY1).row.card.id != first.card.id
    back = desk.undo(session)
    assert back == first and session.card_id == first.card.id and not session.revealed
    assert session.reviewed == 0 and session.rated == [] and session.last is None
    view = desk.view(session, now=DAY1)
    assert view.row == first and view.intervals == preview(first.state, DAY1, desk.settings())


def test_the_tab_settings_are_the_decks_and_a_bad_one_is_one_line(desk):
    assert desk.configure(new_per_day=3, desired_retention=0.8).new_per_day == 3
    with Deck.open(desk.deck_path) as deck:
        assert (deck.config.new_per_day, deck.config.desired_retention) == (3, 0.8)
        assert len(deck.due(DAY1)) == 3
    for bad in ({"new_per_day": -2}, {"desired_retention": 1.0}):
        with pytest.raises(StudyError) as caught:
            desk.configure(**bad)
        assert "\n" not in str(caught.value)


def test_the_buttons_say_their_intervals_and_undo_shows_after_a_rating(
    notes_copy, tmp_path, index_for_app
):
    app = study_app.StudyApp(
        notes_copy,
        index_for_app,
        lambda index, settings: None,
        deck_path=tmp_path / "deck.sqlite",
        make_checker=OverlapChecker,
        study_dir=tmp_path / "study",
    )
    session = StudySession()
    shown = app.study_show(session, FLIP)
    labels = [button.value.replace("\xa0", " ") for button in shown[RATING_BUTTONS]]
    assert labels[:3] == ["Otra vez · 1 min", "Difícil · 6 min", "Bien · 10 min"]
    assert labels[3].startswith("Fácil · ") and labels[3].endswith(" d")
    assert not shown[UNDO].visible
    first = session.card_id
    app.study_reveal(session, FLIP)
    after = app.study_rate("again", session, FLIP)
    assert after[UNDO].visible and session.card_id != first
    undone = app.study_undo(session, FLIP)
    assert session.card_id == first and not undone[UNDO].visible
    assert [button.value.replace("\xa0", " ") for button in undone[RATING_BUTTONS]] == labels
    assert app.study_configure(5, 0.85) == (5, 0.85) == app.study_settings()
    assert rating_button("good") == "Bien"  # no card: no interval
    assert rating_button("again", timedelta(minutes=1)) == "Otra\xa0vez\xa0·\xa01\xa0min"


@pytest.fixture
def index_for_app(notes_copy, tmp_path, fake_embedder, fake_config):
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    return tmp_path / "index"


# -- the CLI -----------------------------------------------------------------------------


def _run(argv: list) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    apply_notebook(args)
    return args.func(args)


def test_the_cli_keeps_new_per_day_in_the_deck_and_undoes_the_last_review(
    tmp_path, notes_copy, capsys
):
    deck = tmp_path / "deck.sqlite"
    _run(["cards", "build", "--notes", notes_copy, "--deck", deck, "--new-per-day", 4])
    capsys.readouterr()
    _run(["cards", "due", "--deck", deck, "--json"])
    assert len(json.loads(capsys.readouterr().out)) == 4
    _run(["cards", "due", "--deck", deck, "--new-per-day", 6, "--json"])
    due = json.loads(capsys.readouterr().out)
    assert len(due) == 6
    with Deck.open(deck) as opened:
        assert opened.config.new_per_day == 6  # the app's tab reads the same setting
        before = opened.get(due[0]["id"])
    _run(["cards", "review", "--deck", deck, "--card", due[0]["id"], "--rating", "good"])
    capsys.readouterr()
    _run(["cards", "undo", "--deck", deck, "--json"])
    undone = json.loads(capsys.readouterr().out)
    assert (undone["id"], undone["state"]) == (due[0]["id"], "new")
    with Deck.open(deck) as opened:
        assert opened.get(due[0]["id"]) == before and opened.reviews() == []
    with pytest.raises(SettingsError, match="--new-per-day"):
        _run(["study", "--deck", deck, "--new-per-day", -1])


def test_the_study_loop_shows_the_intervals_and_d_takes_the_last_rating_back(deck):
    first, second = (row.card for row in deck.due()[:2])
    # first: reveal, Otra vez; second: "d" (undo: the first comes back), reveal, Bien; q
    replies = iter(["", "1", "d", "", "3", "q"])
    shown: list[str] = []
    assert run_study(deck, read=lambda prompt: next(replies), write=shown.append) == 1
    assert [(r.card_id, r.rating) for r in deck.reviews()] == [(first.id, "good")]
    text = "\n".join(shown)
    assert "1 otra vez: 1 min · 2 difícil: 6 min · 3 bien: 10 min · 4 fácil: " in text
    assert f"Deshecha la última valoración: «{first.front}» vuelve a salir." in text
    assert text.count(first.front) >= 2 and "Repasadas 1 tarjetas." in text
    assert second.front in text
