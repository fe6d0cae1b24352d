"""The deck's ``cards`` rows as records and back: the columns a read selects, times as
text, a row as a ``DeckCard``, and the writes of one row (a new card, a card's new text,
its new review state). Each write runs inside the caller's transaction (Deck.transaction).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from assistant.study.cards import Card
from assistant.study.records import DeckCard
from assistant.study.schedule import ReviewState, as_utc

# What the deck hands out: the student's edit over the notes' text.
CARD_COLUMNS = (
    "id, kind, COALESCE(edited_front, front), COALESCE(edited_back, back), full_back, source, "
    "heading, chunk_id, span_start, span_end, state, step, stability, difficulty, due, "
    "last_review, retired, edited_front IS NOT NULL OR edited_back IS NOT NULL, manual, "
    "suspended, deleted, gone"
)
# What a rebuild compares with the notes: their own text, "retired" when the section left.
NOTE_COLUMNS = (
    "id, kind, front, back, full_back, source, heading, chunk_id, span_start, span_end, "
    "state, step, stability, difficulty, due, last_review, gone, 0, manual, NULL, deleted, "
    "gone"
)


def iso(moment: datetime) -> str:
    # Fixed width (always microseconds, always +00:00): text order is time order in SQL.
    return as_utc(moment).isoformat(timespec="microseconds")


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def deck_card(row: tuple) -> DeckCard:
    """A row of CARD_COLUMNS (or NOTE_COLUMNS) as the record the deck hands out."""
    (identity, kind, front, back, full_back, source, heading, chunk_id, start, end) = row[:10]
    (state, step, stability, difficulty, due, last_review, retired) = row[10:17]
    (edited, manual, suspended, deleted, gone) = row[17:]
    card = Card(
        id=identity,
        kind=kind,
        front=front,
        back=back,
        source=source,
        heading=heading,
        chunk_id=chunk_id,
        start=start,
        end=end,
        full_back=full_back,
    )
    review_state = ReviewState(
        state=state,
        due=parse_time(due),
        step=step,
        stability=stability,
        difficulty=difficulty,
        last_review=parse_time(last_review),
    )
    return DeckCard(
        card,
        review_state,
        parse_time(retired),
        edited=bool(edited),
        manual=bool(manual),
        suspended=parse_time(suspended),
        deleted=parse_time(deleted),
        gone=parse_time(gone),
    )


def _card_values(card: Card, position: int) -> tuple:
    """The card's own columns, in the order of both the INSERT and the UPDATE of cards."""
    return (
        card.id,
        card.kind,
        card.front,
        card.back,
        card.full_back,
        card.source,
        card.heading,
        card.chunk_id,
        card.start,
        card.end,
        position,
    )


def insert_card(
    connection: sqlite3.Connection,
    card: Card,
    position: int,
    now: datetime,
    manual: bool = False,
) -> None:
    """A new row for ``card``: new to the schedule, due at ``now``."""
    fresh = ReviewState.new(now)
    connection.execute(
        "INSERT INTO cards (id, kind, front, back, full_back, source, heading, "
        "chunk_id, span_start, span_end, position, state, step, due, created, manual) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            *_card_values(card, position),
            fresh.state,
            fresh.step,
            iso(fresh.due),
            iso(now),
            int(manual),
        ),
    )


def rewrite_card(connection: sqlite3.Connection, card: Card, position: int, old_id: str):
    """Overwrite the row ``old_id`` with ``card`` (its id too: the review log follows
    through ON UPDATE CASCADE), back in the notes; the review state and the student's
    edit, suspension or deletion are kept."""
    connection.execute(
        "UPDATE cards SET id = ?, kind = ?, front = ?, back = ?, full_back = ?, source = ?, "
        "heading = ?, chunk_id = ?, span_start = ?, span_end = ?, position = ?, "
        "gone = NULL WHERE id = ?",
        (
            *_card_values(card, position),
            old_id,
        ),
    )


def write_state(connection: sqlite3.Connection, card_id: str, state: ReviewState) -> None:
    """The card's review state columns set to ``state``."""
    connection.execute(
        "UPDATE cards SET state = ?, step = ?, stability = ?, difficulty = ?, due = ?, "
        "last_review = ? WHERE id = ?",
        (
            state.state,
            state.step,
            state.stability,
            state.difficulty,
            iso(state.due),
            iso(state.last_review) if state.last_review else None,
            card_id,
        ),
    )
