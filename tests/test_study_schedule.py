"""FSRS scheduling through the ``fsrs`` package: ratings order the next due date, repeated
good reviews space out, the desired retention moves the intervals, and the intervals the
rating buttons show are FSRS's own, written as Anki writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fsrs
import pytest

from assistant.study.schedule import (
    RATINGS,
    ReviewState,
    ScheduleConfig,
    interval_text,
    parse_rating,
    preview,
    review,
)
from corpus.errors import SettingsError

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def _scheduler(**settings):
    return ScheduleConfig(enable_fuzzing=False, **settings).scheduler()


def _after(ratings: list[str], scheduler, start: datetime = T0) -> list[ReviewState]:
    """Review a new card with ``ratings``, each at the moment it falls due."""
    state, now, states = ReviewState.new(start), start, []
    for rating in ratings:
        state = review(state, rating, now, scheduler)
        states.append(state)
        now = state.due
    return states


def test_a_better_rating_schedules_the_card_later():
    scheduler = _scheduler()
    dues = {rating: review(ReviewState.new(T0), rating, T0, scheduler).due for rating in RATINGS}
    assert dues["again"] < dues["good"] <= dues["easy"]
    assert dues["again"] <= dues["hard"] <= dues["good"]


def test_good_after_graduation_schedules_later_than_again():
    scheduler = _scheduler()
    learnt = _after(["good", "good"], scheduler)[-1]
    assert learnt.state == "review"
    now = learnt.due
    good = review(learnt, "good", now, scheduler)
    again = review(learnt, "again", now, scheduler)
    assert good.due - now > timedelta(days=1) > again.due - now
    assert again.state == "relearning"
    assert again.stability < learnt.stability < good.stability


def test_intervals_grow_on_repeated_good():
    states = _after(["good"] * 7, _scheduler())
    reviewing = [s for s in states if s.state == "review"]
    assert len(reviewing) >= 5
    intervals = [s.interval() for s in reviewing]
    assert intervals == sorted(intervals) and intervals[-1] > 4 * intervals[0]
    stabilities = [s.stability for s in reviewing]
    assert all(a < b for a, b in zip(stabilities, stabilities[1:]))


def test_a_higher_desired_retention_reviews_sooner():
    strict = _after(["good"] * 4, _scheduler(desired_retention=0.95))[-1]
    lenient = _after(["good"] * 4, _scheduler(desired_retention=0.80))[-1]
    assert strict.interval() < lenient.interval()


def test_the_state_round_trips_through_fsrs():
    state = _after(["good", "hard", "good"], _scheduler())[-1]
    assert ReviewState.from_fsrs(state.to_fsrs()) == state


def test_the_settings_round_trip_as_the_deck_stores_them():
    config = ScheduleConfig(desired_retention=0.85, enable_fuzzing=False, new_per_day=7)
    record = config.to_dict()
    assert record["fsrs_version"] and len(record["parameters"]) == 21
    assert ScheduleConfig.from_dict(record) == config
    older = {k: v for k, v in record.items() if k not in ("new_per_day", "learn_ahead_minutes")}
    assert ScheduleConfig.from_dict(older).new_per_day == 20  # a deck from before the limit


def test_learning_steps_are_ankis_and_on():
    scheduler = ScheduleConfig().scheduler()
    assert scheduler.learning_steps == (timedelta(minutes=1), timedelta(minutes=10))
    assert scheduler.relearning_steps == (timedelta(minutes=10),)
    states = _after(["again", "good", "good"], _scheduler())
    assert [s.state for s in states] == ["learning", "learning", "review"]
    assert [s.step for s in states] == [0, 1, None]
    assert [s.interval() for s in states[:2]] == [timedelta(minutes=1), timedelta(minutes=10)]


@pytest.mark.parametrize("history", [[], ["good"], ["good", "good"], ["good", "good", "again"]])
def test_the_preview_is_what_fsrs_gives_each_rating(history):
    """In every state (new, learning, review, relearning): the interval shown for a rating
    is the one FSRS itself (the package, unwrapped, no fuzz) schedules for it."""
    config = ScheduleConfig(enable_fuzzing=False)
    state = _after(history, config.scheduler())[-1] if history else ReviewState.new(T0)
    now = max(state.due, T0)
    shown = preview(state, now, config)
    plain = fsrs.Scheduler(enable_fuzzing=False)  # fsrs's defaults are Anki's steps too
    for name, rating in RATINGS.items():
        card, _ = plain.review_card(state.to_fsrs(), rating, review_datetime=now)
        assert shown[name] == card.due - now, name
    assert shown["again"] < shown["good"] <= shown["easy"]


def test_the_preview_ignores_the_fuzz_and_follows_the_retention():
    learnt = _after(["good"] * 3, _scheduler())[-1]
    fuzzed = preview(learnt, learnt.due, ScheduleConfig(enable_fuzzing=True))
    assert fuzzed == preview(learnt, learnt.due, ScheduleConfig(enable_fuzzing=False))
    strict = preview(learnt, learnt.due, ScheduleConfig(desired_retention=0.95))
    assert strict["good"] < fuzzed["good"]


@pytest.mark.parametrize(
    "interval, text",
    [
        (timedelta(seconds=20), "< 1 min"),
        (timedelta(minutes=1), "1 min"),
        (timedelta(minutes=5, seconds=30), "6 min"),
        (timedelta(minutes=10), "10 min"),
        (timedelta(minutes=90), "1,5 h"),
        (timedelta(hours=5), "5 h"),
        (timedelta(days=1), "1 d"),
        (timedelta(days=3, hours=2), "3 d"),
        (timedelta(days=45), "1,5 mes"),
        (timedelta(days=60), "2 mes"),
        (timedelta(days=400), "1,1 a"),
    ],
)
def test_an_interval_is_written_as_the_buttons_show_it(interval, text):
    assert interval_text(interval) == text


def test_the_state_round_trips_as_the_review_log_keeps_it():
    for state in [ReviewState.new(T0), *_after(["good", "again"], _scheduler())]:
        assert ReviewState.from_dict(state.to_dict()) == state


@pytest.mark.parametrize(
    "text, name",
    [
        ("again", "again"),
        ("GOOD", "good"),
        (" easy ", "easy"),
        ("1", "again"),
        ("2", "hard"),
        ("4", "easy"),
    ],
)
def test_parse_rating(text, name):
    assert parse_rating(text) == name


@pytest.mark.parametrize("text", ["", "5", "perfect", "bien"])
def test_a_bad_rating_is_one_spanish_line(text):
    with pytest.raises(SettingsError, match="Valoración no válida") as caught:
        parse_rating(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"desired_retention": 1.0}, "desired_retention"),
        ({"desired_retention": 0.0}, "desired_retention"),
        ({"parameters": (0.1,) * 3}, "parameters"),
        ({"learning_steps_minutes": (0.0,)}, "learning_steps_minutes"),
        ({"maximum_interval_days": 0}, "maximum_interval_days"),
        ({"new_per_day": -1}, "new_per_day"),
        ({"learn_ahead_minutes": -5.0}, "learn_ahead_minutes"),
    ],
)
def test_bad_settings_name_the_field(settings, field):
    with pytest.raises(SettingsError, match=field):
        ScheduleConfig(**settings)


def test_a_state_needs_an_aware_due_date():
    with pytest.raises(SettingsError, match="due"):
        ReviewState(state="new", due=datetime(2025, 1, 1))
