"""Deck statistics as plain dicts, and the reviews-per-day PNG."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from assistant.study.cards import build_cards
from assistant.study.deck import Deck
from assistant.study.stats import deck_stats, plot_reviews_per_day
from corpus.loader import load_notes
from tests.conftest import NOTES

DAY1 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


@pytest.fixture(scope="module")
def cards():
    return build_cards(load_notes(NOTES).notes)


@pytest.fixture
def deck(tmp_path, cards):
    with Deck.open(tmp_path / "deck.sqlite", create=True) as deck:
        deck.sync(cards, now=DAY1)
        qa = [c for c in cards if c.source == "preguntas_nlp_llm.md"][:2]
        prose = next(c for c in cards if c.source == "teacher_forcing.md")
        deck.review(qa[0].id, "again", now=DAY1)
        deck.review(qa[1].id, "good", now=DAY1)
        deck.review(qa[0].id, "good", now=DAY2)
        deck.review(prose.id, "easy", now=DAY2)
        yield deck


def test_reviews_per_day_and_retention_by_note(deck):
    stats = deck_stats(deck, now=DAY2, tz=UTC)
    assert stats["reviews"] == 4
    assert stats["reviews_per_day"] == {"2025-03-03": 2, "2025-03-04": 2}
    assert stats["retention_by_note"] == {
        "preguntas_nlp_llm.md": {"reviews": 3, "retained": 2, "retention": 0.6667},
        "teacher_forcing.md": {"reviews": 1, "retained": 1, "retention": 1.0},
    }
    json.dumps(stats)  # plain data


def test_due_today_and_this_week(deck):
    rows = deck.cards()
    stats = deck_stats(deck, now=DAY2, tz=UTC)
    end_today = datetime(2025, 3, 5, tzinfo=UTC)
    assert stats["cards"] == len(rows) and stats["retired"] == 0
    # New cards count as the daily limit lets them in: 20 a day, one of DAY2's taken.
    studied = [r for r in rows if r.state.state != "new"]
    new = len(rows) - len(studied)
    assert stats["new_today"] == min(new, 20 - 1) == 19
    assert stats["due_now"] == sum(r.state.due <= DAY2 for r in studied) + 19
    assert stats["due_today"] == sum(r.state.due < end_today for r in studied) + 19
    assert stats["due_this_week"] == (
        sum(r.state.due < end_today + timedelta(days=6) for r in studied) + min(new, 19 + 6 * 20)
    )
    assert stats["due_now"] <= stats["due_today"] <= stats["due_this_week"] <= stats["cards"]
    assert stats["due_this_week"] > stats["due_now"]  # the reviewed cards fall due this week


def test_a_note_never_reviewed_has_no_retention(tmp_path, cards):
    with Deck.open(tmp_path / "deck.sqlite", create=True) as deck:
        deck.sync(cards, now=DAY1)
        stats = deck_stats(deck, now=DAY1, tz=UTC)
    assert stats["reviews"] == 0 and stats["reviews_per_day"] == {}
    assert {note["retention"] for note in stats["retention_by_note"].values()} == {None}


@pytest.mark.parametrize("reviewed", [True, False])
def test_the_plot_is_a_png(deck, tmp_path, reviewed):
    stats = deck_stats(deck, now=DAY2, tz=UTC)
    if not reviewed:
        stats = {**stats, "reviews_per_day": {}}
    out = plot_reviews_per_day(stats, tmp_path / "plots" / "repasos.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["repasos.png"]


def test_the_plot_shows_the_last_30_days_ending_today():
    from datetime import date

    from assistant.study.stats import PLOT_DAYS, plot_window

    days = plot_window(date(2026, 3, 2))
    assert len(days) == PLOT_DAYS == 30
    assert days[-1] == date(2026, 3, 2) and days[0] == date(2026, 2, 1)
    assert all((b - a).days == 1 for a, b in zip(days, days[1:]))
