"""Anki's scheduling columns, both ways: a deck card's FSRS state and review log as the
rows of an Anki collection (``cards``, ``revlog``), and Anki's review log back as ratings.

What Anki stores (its rslib: ``card/mod.rs``, ``storage/card/data.rs``, ``revlog/mod.rs``;
checked against the ``anki`` 26.9 package answering cards with FSRS on):

- ``cards.type`` 0 new, 1 learning, 2 review, 3 relearning; ``queue`` 0 new, 1 learning
  (``due`` in epoch seconds), 2 review and 3 learning past a day (``due`` in days since
  the collection's ``crt``), -1 suspended (type, due and ivl kept); ``ivl`` days; ``left`` the learning steps still to go;
  ``factor`` the SM-2 ease in permille, which FSRS ignores (2500, Anki's starting ease).
- ``cards.data``: JSON with the FSRS memory ``s`` (stability, days) and ``d`` (difficulty,
  1-10), ``dr`` the desired retention, ``decay`` FSRS-6's w20 and ``lrt`` the last review
  in epoch seconds (Anki 25.07 on; older Anki ignores the keys it does not know).
- ``revlog``: ``id`` the review's epoch milliseconds (unique in the collection), ``cid``,
  ``usn`` -1 (not synced yet), ``ease`` 1-4 (0: a manual reschedule), ``ivl`` and
  ``lastIvl`` (days, or negative seconds inside learning), ``factor`` (with FSRS, the
  difficulty after the review as 100 + 1000 * (d - 1) / 9), ``time`` ms, ``type`` the
  card's kind before the review: 0 learning, 1 review, 2 relearning, 3 a filtered deck's
  review that does not reschedule, 4 manual, 5 rescheduled by FSRS.

A review day is counted from ``crt`` in whole days (a collection without ``schedVer``, as
genanki writes it, uses Anki's v1 day count): a due date lands on its day to within that
boundary, which Anki moves to its own rollover hour on import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from assistant.study.records import ReviewRecord
from assistant.study.schedule import RatingName, ReviewState, ScheduleConfig

# The note field holding the card's stable id: the import matches notes by it.
ID_FIELD = "Id"

EASE: dict[str, int] = {"again": 1, "hard": 2, "good": 3, "easy": 4}
RATING_OF_EASE: dict[int, RatingName] = {1: "again", 2: "hard", 3: "good", 4: "easy"}

# revlog.type from the card's state before the review; a new card is in learning.
REVLOG_TYPE = {"new": 0, "learning": 0, "review": 1, "relearning": 2}
# The revlog types that are reviews FSRS counts; 3 (filtered, not rescheduling), 4
# (manual) and 5 (rescheduled) moved no memory.
REVIEW_TYPES = frozenset({0, 1, 2})

CARD_TYPE = {"new": 0, "learning": 1, "review": 2, "relearning": 3}
QUEUE_LEARNING, QUEUE_REVIEW, QUEUE_DAY_LEARNING = 1, 2, 3
QUEUE_SUSPENDED = -1  # the card's type, due and ivl stay; buried cards (-2, -3) are not
STARTING_EASE = 2500  # permille; FSRS schedules without it
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class AnkiScheduling:
    """The scheduling columns of one row of Anki's ``cards`` table."""

    type: int
    queue: int
    due: int
    ivl: int
    factor: int
    reps: int
    lapses: int
    left: int
    data: str


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def millis(moment: datetime) -> int:
    """A revlog id: the review's epoch milliseconds."""
    return int(moment.timestamp() * 1000)


def from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def day_number(moment: datetime, crt: int) -> int:
    """Days from the collection's creation (``col.crt``, epoch seconds) to ``moment``."""
    return (_seconds(moment) - crt) // DAY_SECONDS


def fsrs_factor(difficulty: float) -> int:
    """revlog.factor of an FSRS review: the difficulty (1-10) as 100..1100."""
    return round(100 + 1000 * (difficulty - 1) / 9)


def interval(state: str, reviewed: datetime, due: datetime) -> int:
    """revlog.ivl after a review: whole days in review, negative seconds in (re)learning."""
    seconds = (due - reviewed).total_seconds()
    if state == "review":
        return max(1, round(seconds / DAY_SECONDS))
    return -max(1, round(seconds))


def card_data(state: ReviewState, config: ScheduleConfig) -> str:
    """cards.data: the FSRS memory state as Anki keeps it (rounded as Anki rounds it)."""
    if state.stability is None or state.difficulty is None:
        return ""
    data = {
        "s": round(state.stability, 4),
        "d": round(state.difficulty, 3),
        "dr": round(config.desired_retention, 2),
        "decay": round(config.parameters[20], 3),  # FSRS-6's w20
    }
    if state.last_review is not None:
        data["lrt"] = _seconds(state.last_review)
    return json.dumps(data, separators=(",", ":"))


def scheduling(
    state: ReviewState,
    reviews: Sequence[ReviewRecord],
    config: ScheduleConfig,
    crt: int,
) -> AnkiScheduling | None:
    """The card's Anki columns, or None for a card never reviewed (genanki's new card)."""
    if state.state == "new":
        return None
    reps = len(reviews)
    lapses = sum(r.rating == "again" and r.state_before == "review" for r in reviews)
    last = state.last_review or state.due
    if state.state == "review":
        queue, due = QUEUE_REVIEW, day_number(state.due, crt)
        ivl, left = interval("review", last, state.due), 0
    else:
        steps = (
            config.learning_steps_minutes
            if state.state == "learning"
            else config.relearning_steps_minutes
        )
        left = max(1, len(steps) - (state.step or 0))
        # Anki keeps a relearning card's interval for after the lapse; FSRS recomputes it,
        # so this is only what Anki's browser shows meanwhile.
        ivl = 0 if state.state == "learning" else max(1, round(state.stability or 1))
        if (state.due - last).total_seconds() < DAY_SECONDS:
            queue, due = QUEUE_LEARNING, _seconds(state.due)
        else:
            queue, due = QUEUE_DAY_LEARNING, day_number(state.due, crt)
    return AnkiScheduling(
        type=CARD_TYPE[state.state],
        queue=queue,
        due=due,
        ivl=ivl,
        factor=STARTING_EASE,
        reps=reps,
        lapses=lapses,
        left=left,
        data=card_data(state, config),
    )


def revlog_rows(cid: int, reviews: Iterable[ReviewRecord], taken: set[int]) -> list[tuple]:
    """One card's reviews (time order) as revlog rows (id, cid, usn, ease, ivl, lastIvl,
    factor, time, type). A revlog id is unique in a collection: a review whose millisecond
    is ``taken`` moves to the next free one (the import counts reviews of a card less than
    a second apart as one)."""
    rows = []
    last_interval = 0
    for review in reviews:
        revlog_id = millis(review.reviewed)
        while revlog_id in taken:
            revlog_id += 1
        taken.add(revlog_id)
        ivl = interval(review.state, review.reviewed, review.due)
        rows.append(
            (
                revlog_id,
                cid,
                -1,
                EASE[review.rating],
                ivl,
                last_interval,
                fsrs_factor(review.difficulty),
                max(0, review.duration_ms or 0),
                REVLOG_TYPE[review.state_before],
            )
        )
        last_interval = ivl
    return rows


def rating_of(ease: int, revlog_type: int) -> RatingName | None:
    """The rating of an Anki revlog row, or None when the row is not a review FSRS counts
    (a manual reschedule, a filtered deck's preview)."""
    if revlog_type not in REVIEW_TYPES:
        return None
    return RATING_OF_EASE.get(ease)
