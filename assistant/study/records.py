"""Typed records the deck hands out: a card with its review state, a review log row, and
what a sync did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from assistant.study.cards import Card
from assistant.study.schedule import RatingName, ReviewState
from corpus.errors import SettingsError


@dataclass(frozen=True)
class DeckCard:
    """A card as the deck holds it: the card (its text the student's edit, if any), where
    it stands in the schedule, and when it left study (``retired``: its section left the
    notes, or the student suspended or deleted it; schema.py)."""

    card: Card
    state: ReviewState
    retired: datetime | None = None
    edited: bool = False  # the front or back is the student's, not the notes'
    manual: bool = False  # added by hand (the card browser)
    suspended: datetime | None = None
    deleted: datetime | None = None
    gone: datetime | None = None  # when its section (a manual card's note) left the notes

    @property
    def status(self) -> str:
        """new, learning, review, relearning, suspended, deleted or retired."""
        if self.deleted:
            return "deleted"
        if self.suspended:
            return "suspended"
        return "retired" if self.retired else self.state.state

    def to_json(self) -> dict:
        card = self.card
        return {
            "id": card.id,
            "kind": card.kind,
            "front": card.front,
            "back": card.back,
            "source": card.source,
            "heading": card.heading,
            "chunk_id": card.chunk_id,
            "due": self.state.due.isoformat(timespec="seconds"),
            "state": self.status,
        }


@dataclass(frozen=True)
class ReviewRecord:
    """One row of the review log, with the reviewed card's note (for statistics)."""

    card_id: str
    source: str
    rating: RatingName
    reviewed: datetime
    duration_ms: int | None
    state_before: str
    state: str  # after the review
    stability: float
    difficulty: float
    due: datetime


@dataclass(frozen=True)
class SyncReport:
    """What a sync did: ``cards`` active after it; ``new`` never seen before; ``updated``
    changed text (or back from retirement), history kept; ``retired`` gone from the notes."""

    cards: int
    new: int
    updated: int
    retired: int

    def __post_init__(self) -> None:
        for name in ("cards", "new", "updated", "retired"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return {
            "cards": self.cards,
            "new": self.new,
            "updated": self.updated,
            "retired": self.retired,
        }
