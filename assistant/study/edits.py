"""The student's own changes to the deck's cards, the card browser's writes (issue 28):
an edit of a card's text, a suspension or deletion (and their undoing), a card written by
hand and where it sits in note order; and the suspensions made in Anki, taken back. They
live in columns of their own (schema.py), so a rebuild from the notes never undoes them.
Each runs inside the caller's transaction (Deck.transaction); Deck.edit, suspend, resume,
delete, undelete, add and merge_reviews are the way in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from assistant.study.cards import Card
from assistant.study.merge import Suspension, suspension_wins
from assistant.study.rows import insert_card, iso, parse_time
from assistant.study.schema import OUT_OF_STUDY
from assistant.study.storage import DeckError


def edit_text(connection: sqlite3.Connection, card_id: str, front: str, back: str) -> None:
    """The student's front and back for an existing card: over the notes' text (equal to
    it: no edit), or the card's own text for a card written by hand."""
    notes_front, notes_back, manual = connection.execute(
        "SELECT front, back, manual FROM cards WHERE id = ?", (card_id,)
    ).fetchone()
    if manual:  # no notes' text under it: the card's own text is the student's
        connection.execute(
            "UPDATE cards SET front = ?, back = ? WHERE id = ?", (front, back, card_id)
        )
    else:
        connection.execute(
            "UPDATE cards SET edited_front = ?, edited_back = ? WHERE id = ?",
            (
                None if front == notes_front else front,
                None if back == notes_back else back,
                card_id,
            ),
        )


def mark(connection: sqlite3.Connection, card_id: str, assignment: str, now: datetime) -> None:
    """Set one of the card's reasons to be out of study (``assignment``: SQL with one
    ``?`` for ``now``, or none) and bring ``retired`` in line."""
    params = (card_id,) if "?" not in assignment else (iso(now), card_id)
    connection.execute(f"UPDATE cards SET {assignment} WHERE id = ?", params)
    connection.execute(OUT_OF_STUDY)


# The assignments of ``mark``: when a card was suspended (the first time, if twice), put
# back in study (only when it was suspended: ``resumed`` dates a real change), deleted.
SUSPEND = "suspended = COALESCE(suspended, ?)"
RESUME = "resumed = CASE WHEN suspended IS NULL THEN resumed ELSE ? END, suspended = NULL"
DELETE = "deleted = COALESCE(deleted, ?)"
UNDELETE = "deleted = NULL"


def merge_suspensions(
    connection: sqlite3.Connection, incoming: Iterable[Suspension]
) -> tuple[int, int]:
    """Each card suspended or put back in study as ``incoming`` says where that side
    changed it last (merge.suspension_wins), dated by its change there; a deleted card is
    left alone. Returns how many were (suspended, resumed)."""
    suspended = resumed = 0
    for state in incoming:
        row = connection.execute(
            "SELECT suspended, resumed, deleted FROM cards WHERE id = ?", (state.card_id,)
        ).fetchone()
        if row is None or row[2] is not None:
            continue
        if not suspension_wins(state, parse_time(row[0]), parse_time(row[1])):
            continue
        if state.suspended:
            connection.execute(
                "UPDATE cards SET suspended = ? WHERE id = ?", (iso(state.changed), state.card_id)
            )
            suspended += 1
        else:
            connection.execute(
                "UPDATE cards SET suspended = NULL, resumed = ? WHERE id = ?",
                (iso(state.changed), state.card_id),
            )
            resumed += 1
    connection.execute(OUT_OF_STUDY)
    return suspended, resumed


def add_manual(connection: sqlite3.Connection, card: Card, now: datetime, deck: str) -> None:
    """A card written by hand, placed in note order; its id must be free in ``deck``."""
    taken = connection.execute("SELECT 1 FROM cards WHERE id = ?", (card.id,))
    if taken.fetchone():
        raise DeckError(f"Ya hay una tarjeta con id {card.id} en el mazo {deck}")
    position = position_in_note(connection, card.source, card.start)
    insert_card(connection, card, position, now, manual=True)


def position_in_note(connection: sqlite3.Connection, source: str, start: int) -> int:
    """Where a manual card goes in note order: at the built card of its note that comes
    last before it (else the note's first), or after every card."""
    (before, first, last) = connection.execute(
        "SELECT MAX(CASE WHEN span_start <= ? THEN position END), MIN(position), "
        "(SELECT MAX(position) + 1 FROM cards) FROM cards WHERE manual = 0 AND source = ?",
        (start, source),
    ).fetchone()
    position = before if before is not None else first if first is not None else last
    return position or 0


def place_manual(connection: sqlite3.Connection, notes: set[str], now: datetime) -> None:
    """After a rebuild: each manual card at its place in note order again, retired while
    its note is not among ``notes`` and back when it is."""
    rows = connection.execute(
        "SELECT id, source, span_start, gone FROM cards WHERE manual = 1"
    ).fetchall()
    for card_id, source, start, gone in rows:
        gone = None if source in notes else gone or iso(now)
        position = position_in_note(connection, source, start)
        connection.execute(
            "UPDATE cards SET position = ?, gone = ? WHERE id = ?", (position, gone, card_id)
        )
