"""FSRS scheduling through the ``fsrs`` package: ratings order the next due date, repeated
good reviews space out, and the desired retention moves the intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from assistant.study.schedule import (
    RATINGS,
    ReviewState,
    ScheduleConfig,
    parse_rating,
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
    config = ScheduleConfig(desired_retention=0.85, enable_fuzzing=False)
    record = config.to_dict()
    assert record["fsrs_version"] and len(record["parameters"]) == 21
    assert ScheduleConfig.from_dict(record) == config


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
    ],
)
def test_bad_settings_name_the_field(settings, field):
    with pytest.raises(SettingsError, match=field):
        ScheduleConfig(**settings)


def test_a_state_needs_an_aware_due_date():
    with pytest.raises(SettingsError, match="due"):
        ReviewState(state="new", due=datetime(2025, 1, 1))
