"""Reviews made elsewhere (Anki, AnkiDroid) merged into one card's history: which are new,
and the state the whole history implies. Deck.merge_reviews writes what this plans.

A review already in the log is one of the same card less than a second away: the export
writes each review at its millisecond (moved by one when two share it, as Anki's revlog
ids must be unique), and nobody answers the same card twice within a second. The card's
state is then the FSRS replay of every review, old and new, in time order; the log's
existing rows stay as they were written (what the scheduler said then), and each new row
gets the states before and after it from the replay.

A card suspended or put back in study on one side comes back so on the other
(``suspension_wins``): when the file and the deck disagree, the side that changed the card
last wins. Anki does not date a suspension, only a card's last change of any kind
(``cards.mod``, in seconds); the deck dates its own (``suspended``, ``resumed``;
schema.py). So the file wins when Anki changed the card after the deck's last suspend or
resume, or when the deck never suspended nor resumed it (then only Anki can have made the
difference). A known limit: ``mod`` moves with a review too, so a card reviewed in Anki
after it was suspended (or resumed) here takes Anki's state. A suspension taken from the
file is dated by ``mod``, so importing the same file again changes nothing.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from datetime import datetime, timedelta

import fsrs

from assistant.study.schedule import RATINGS, RatingName, ReviewState, as_utc, replay
from corpus.errors import SettingsError

SAME_REVIEW = timedelta(seconds=1)


@dataclass(frozen=True)
class PastReview:
    """A review made outside the deck, to be merged into its log."""

    card_id: str
    rating: RatingName
    reviewed: datetime
    duration_ms: int | None = None

    def __post_init__(self) -> None:
        if self.rating not in RATINGS:
            raise SettingsError(f"rating must be one of {tuple(RATINGS)}, got {self.rating!r}")
        as_utc(self.reviewed)


@dataclass(frozen=True)
class MergedReview:
    """A new row of the review log: the review and the states around it in the replay."""

    review: PastReview
    before: ReviewState
    after: ReviewState


@dataclass(frozen=True)
class CardMerge:
    """What merging does to one card: its new log rows and its state after them all."""

    rows: tuple[MergedReview, ...]
    duplicates: int
    final: ReviewState | None  # None when nothing was new


@dataclass(frozen=True)
class MergeReport:
    """``added`` reviews new to the log, ``duplicates`` already in it, ``cards`` replayed;
    ``suspended`` and ``resumed``: cards whose suspension the file's state changed."""

    added: int
    duplicates: int
    cards: int
    suspended: int = 0
    resumed: int = 0

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "duplicates": self.duplicates,
            "cards": self.cards,
            "suspended": self.suspended,
            "resumed": self.resumed,
        }


@dataclass(frozen=True)
class Suspension:
    """A card's suspension as another collection (Anki) holds it: whether it is suspended
    there and when that collection last changed the card (Anki's ``cards.mod``)."""

    card_id: str
    suspended: bool
    changed: datetime

    def __post_init__(self) -> None:
        as_utc(self.changed)


def suspension_wins(
    incoming: Suspension, suspended: datetime | None, resumed: datetime | None
) -> bool:
    """Whether ``incoming`` replaces the deck's state of its card: suspended since
    ``suspended`` (None: in study), last resumed at ``resumed`` (None: never). The rule is
    the module's: on a difference, the later change wins, the file's when the deck has none."""
    if incoming.suspended == (suspended is not None):
        return False
    ours = suspended or resumed
    return ours is None or as_utc(incoming.changed) > as_utc(ours)


def _seen(times: list[datetime], moment: datetime) -> bool:
    """Is a review within SAME_REVIEW of ``moment`` in ``times`` (sorted)?"""
    at = bisect_left(times, moment - SAME_REVIEW)
    return at < len(times) and times[at] < moment + SAME_REVIEW


def plan_merge(
    logged: list[tuple[RatingName, datetime]],
    incoming: list[PastReview],
    scheduler: fsrs.Scheduler,
) -> CardMerge:
    """Merge ``incoming`` into one card's ``logged`` history (rating, time)."""
    times = sorted(when for _, when in logged)
    fresh: list[PastReview] = []
    for review in sorted(incoming, key=lambda review: review.reviewed):
        when = as_utc(review.reviewed)
        if _seen(times, when):
            continue
        insort(times, when)
        fresh.append(review)
    duplicates = len(incoming) - len(fresh)
    if not fresh:
        return CardMerge(rows=(), duplicates=duplicates, final=None)
    # (time, 0 for a logged review so it goes first at a tie, rating, the new review)
    history: list[tuple[datetime, int, RatingName, PastReview | None]] = [
        (when, 0, rating, None) for rating, when in logged
    ]
    history += [(as_utc(r.reviewed), 1, r.rating, r) for r in fresh]
    history.sort(key=lambda item: (item[0], item[1]))
    start = ReviewState.new(history[0][0])
    states = replay([(rating, when) for when, _, rating, _ in history], start, scheduler)
    rows = []
    before = start
    for (_, _, _, review), after in zip(history, states, strict=True):
        if review is not None:
            rows.append(MergedReview(review, before, after))
        before = after
    return CardMerge(rows=tuple(rows), duplicates=duplicates, final=states[-1])
