"""The deck's review log: one row per review with the card's whole state before it, so
the last review can be taken back exactly (``undo_last``), and reviews made in Anki merged
in once (``merge``; merge.py plans which are new and the replayed states). Rows are never
rewritten; only an undo deletes one. Each write runs inside the caller's transaction
(Deck.transaction), together with the card's state it goes with.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

import fsrs

from assistant.study.merge import MergeReport, PastReview, plan_merge
from assistant.study.records import ReviewRecord
from assistant.study.rows import iso, parse_time, write_state
from assistant.study.schedule import ReviewState
from assistant.study.storage import DeckError


def append_review(
    connection: sqlite3.Connection,
    card_id: str,
    rating: str,
    now: datetime,
    duration_ms: int | None,
    before: ReviewState,
    after: ReviewState,
) -> None:
    connection.execute(
        "INSERT INTO review_log (card_id, rating, reviewed, duration_ms, state_before, "
        "state, stability, difficulty, due, before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            card_id,
            rating,
            iso(now),
            duration_ms,
            before.state,
            after.state,
            after.stability,
            after.difficulty,
            iso(after.due),
            json.dumps(before.to_dict()),
        ),
    )


def record_review(
    connection: sqlite3.Connection,
    card_id: str,
    rating: str,
    now: datetime,
    duration_ms: int | None,
    before: ReviewState,
    after: ReviewState,
) -> None:
    """A review: the card's new state, then its log row (the same transaction)."""
    write_state(connection, card_id, after)
    append_review(connection, card_id, rating, now, duration_ms, before, after)


def read_reviews(connection: sqlite3.Connection, card_id: str | None) -> list[ReviewRecord]:
    """The log in time order, of one card or of all, each with its card's note."""
    query = (
        "SELECT l.card_id, c.source, l.rating, l.reviewed, l.duration_ms, l.state_before, "
        "l.state, l.stability, l.difficulty, l.due FROM review_log l "
        "JOIN cards c ON c.id = l.card_id"
    )
    params: tuple = ()
    if card_id is not None:
        query, params = query + " WHERE l.card_id = ?", (card_id,)
    rows = connection.execute(query + " ORDER BY l.reviewed, l.id", params)
    return [
        ReviewRecord(
            card_id=row[0],
            source=row[1],
            rating=row[2],
            reviewed=parse_time(row[3]),
            duration_ms=row[4],
            state_before=row[5],
            state=row[6],
            stability=row[7],
            difficulty=row[8],
            due=parse_time(row[9]),
        )
        for row in rows
    ]


def undo_last(connection: sqlite3.Connection, card_id: str | None) -> str:
    """Delete the last review (of ``card_id``, else of the deck) and give its card back
    the state it had before; returns that card's id."""
    where, params = ("WHERE card_id = ?", (card_id,)) if card_id else ("", ())
    row = connection.execute(
        f"SELECT id, card_id, before FROM review_log {where} "
        "ORDER BY reviewed DESC, id DESC LIMIT 1",
        params,
    ).fetchone()
    if row is None:
        raise DeckError("No hay ningún repaso que deshacer")
    log_id, card_id, before = row
    if before is None:
        raise DeckError("Ese repaso es de una versión anterior del mazo y no se puede deshacer")
    write_state(connection, card_id, ReviewState.from_dict(json.loads(before)))
    connection.execute("DELETE FROM review_log WHERE id = ?", (log_id,))
    return card_id


def merge(
    connection: sqlite3.Connection,
    by_card: Mapping[str, Sequence[PastReview]],
    scheduler: fsrs.Scheduler,
) -> MergeReport:
    """Add each card's reviews the log lacks and set the card to the FSRS replay of its
    whole history (merge.plan_merge). The cards must exist (the caller checks)."""
    added = duplicates = cards = 0
    for card_id, incoming in by_card.items():
        logged = [
            (rating, datetime.fromisoformat(reviewed))
            for rating, reviewed in connection.execute(
                "SELECT rating, reviewed FROM review_log WHERE card_id = ? ORDER BY reviewed, id",
                (card_id,),
            )
        ]
        planned = plan_merge(logged, list(incoming), scheduler)
        duplicates += planned.duplicates
        if planned.final is None:
            continue
        for row in planned.rows:
            review = row.review
            append_review(
                connection,
                card_id,
                review.rating,
                review.reviewed,
                review.duration_ms,
                row.before,
                row.after,
            )
        write_state(connection, card_id, planned.final)
        added += len(planned.rows)
        cards += 1
    return MergeReport(added=added, duplicates=duplicates, cards=cards)
