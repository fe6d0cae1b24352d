"""The card browser's columns of the deck (issue 28), and how a deck that lacks them gets
them.

- ``edited_front``, ``edited_back``: the student's text over the notes' (NULL: the notes'
  own). ``front`` and ``back`` stay the notes' text, which a rebuild compares and
  refreshes; what the deck hands out is the edit when there is one.
- ``manual``: 1 for a card added by hand; a rebuild never builds it, so never retires it
  while its note is in the folder.
- ``suspended``, ``deleted``: when the student did it (NULL: not). A deleted card stays,
  with its reviews, and is hidden.
- ``gone``: when its section (for a manual card, its note) left the notes; before these
  columns ``retired`` meant that alone.
- ``retired`` now says whether the card is out of study, for any of those reasons:
  ``COALESCE(deleted, suspended, gone)`` (``OUT_OF_STUDY`` keeps it so). The due list, the
  statistics and a review already look at it, so they need no change, and an app from
  before these columns reads such a deck as it always did (a suspended card as retired).

A deck is given the columns it lacks when it is opened (``add_columns``), a new one too,
in one transaction: they are looked up by name, not by the schema version, so this step
and the versioned migrations in deck.py (the review log's) never wait on each other.
"""

from __future__ import annotations

import sqlite3

# name -> its definition, in the order they are added
COLUMNS: dict[str, str] = {
    "edited_front": "TEXT",
    "edited_back": "TEXT",
    "manual": "INTEGER NOT NULL DEFAULT 0",
    "suspended": "TEXT",
    "deleted": "TEXT",
    "gone": "TEXT",
}

# Run after every write that sets one of the reasons: ``retired`` follows them.
OUT_OF_STUDY = (
    "UPDATE cards SET retired = COALESCE(deleted, suspended, gone) "
    "WHERE retired IS NOT COALESCE(deleted, suspended, gone)"
)


def missing_columns(connection: sqlite3.Connection) -> list[str]:
    """The browser's columns the deck's ``cards`` table lacks."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(cards)")}
    return [name for name in COLUMNS if name not in present]


def add_columns(connection: sqlite3.Connection, names: list[str]) -> None:
    """Add the columns ``names`` (``missing_columns``' answer) inside the caller's
    transaction. A retired card of an older deck had left the notes: that is its ``gone``."""
    for name in names:
        connection.execute(f"ALTER TABLE cards ADD COLUMN {name} {COLUMNS[name]}")
    if "gone" in names:
        connection.execute("UPDATE cards SET gone = retired")
