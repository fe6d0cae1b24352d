"""The deck's tables, their version, and how an older deck is brought up to date.

``meta`` (schema version, notes folder), ``scheduler`` (the FSRS settings as JSON),
``cards`` (a card, its review state, ``retired`` when it is out of study) and
``review_log`` (one row per review, with the card's whole state before it in ``before``:
what undo puts back). A change of the review log's shape is a new ``SCHEMA_VERSION`` with
its step in ``migrate``.

The card browser's columns of ``cards`` (issue 28) are added apart, by name:

- ``edited_front``, ``edited_back``: the student's text over the notes' (NULL: the notes'
  own). ``front`` and ``back`` stay the notes' text, which a rebuild compares and
  refreshes; what the deck hands out is the edit when there is one.
- ``manual``: 1 for a card added by hand; a rebuild never builds it, so never retires it
  while its note is in the folder.
- ``suspended``, ``deleted``: when the student did it (NULL: not). A deleted card stays,
  with its reviews, and is hidden until undeleted.
- ``resumed``: when a suspended card was last put back in study. With ``suspended`` it
  dates the deck's last change of a card's suspension, which an Anki import weighs against
  Anki's (merge.anki_suspension_wins).
- ``gone``: when its section (for a manual card, its note) left the notes; before these
  columns ``retired`` meant that alone.
- ``retired`` now says whether the card is out of study, for any of those reasons:
  ``COALESCE(deleted, suspended, gone)`` (``OUT_OF_STUDY`` keeps it so). The due list, the
  statistics and a review already look at it, so they need no change, and an app from
  before these columns reads such a deck as it always did (a suspended card as retired).

A deck is given the columns it lacks when it is opened (``add_columns``), a new one too,
in one transaction: they are looked up by name, not by the schema version, so this step
and the versioned migrations (the review log's) never wait on each other.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2  # 2: review_log.before, the card's state before each review (undo)

TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE scheduler (id INTEGER PRIMARY KEY CHECK (id = 1), config TEXT NOT NULL);
CREATE TABLE cards (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    front TEXT NOT NULL,
    back TEXT NOT NULL,
    full_back TEXT NOT NULL,
    source TEXT NOT NULL,
    heading TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    span_start INTEGER NOT NULL,
    span_end INTEGER NOT NULL,
    position INTEGER NOT NULL,
    state TEXT NOT NULL,
    step INTEGER,
    stability REAL,
    difficulty REAL,
    due TEXT NOT NULL,
    last_review TEXT,
    created TEXT NOT NULL,
    retired TEXT
);
CREATE INDEX cards_due ON cards (retired, due);
CREATE TABLE review_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    card_id TEXT NOT NULL REFERENCES cards (id) ON UPDATE CASCADE,
    rating TEXT NOT NULL,
    reviewed TEXT NOT NULL,
    duration_ms INTEGER,
    state_before TEXT NOT NULL,
    state TEXT NOT NULL,
    stability REAL NOT NULL,
    difficulty REAL NOT NULL,
    due TEXT NOT NULL,
    before TEXT
);
CREATE INDEX review_log_card ON review_log (card_id);
"""
REQUIRED_TABLES = frozenset({"meta", "cards", "review_log", "scheduler"})

# The card browser's columns: name -> its definition, in the order they are added
COLUMNS: dict[str, str] = {
    "edited_front": "TEXT",
    "edited_back": "TEXT",
    "manual": "INTEGER NOT NULL DEFAULT 0",
    "suspended": "TEXT",
    "deleted": "TEXT",
    "gone": "TEXT",
    "resumed": "TEXT",
}

# Run after every write that sets one of the reasons: ``retired`` follows them.
OUT_OF_STUDY = (
    "UPDATE cards SET retired = COALESCE(deleted, suspended, gone) "
    "WHERE retired IS NOT COALESCE(deleted, suspended, gone)"
)


def create_tables(connection: sqlite3.Connection, created: str) -> None:
    """A new deck's tables, inside the caller's transaction; ``created``: now, as text."""
    # One statement at a time: executescript would COMMIT the transaction first.
    for statement in TABLES.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.execute(
        "INSERT INTO meta VALUES ('schema_version', ?), ('created', ?)",
        (str(SCHEMA_VERSION), created),
    )


def migrate(connection: sqlite3.Connection, version: int) -> None:
    """A deck of schema ``version`` brought up to SCHEMA_VERSION, inside the caller's
    transaction. 1 -> 2: the review log's ``before`` (NULL for the reviews made before it:
    those cannot be undone)."""
    if version < 2:
        connection.execute("ALTER TABLE review_log ADD COLUMN before TEXT")
    connection.execute(
        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
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
