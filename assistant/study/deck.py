"""The deck: cards, their review state and every review, in one SQLite file.

Tables: ``meta`` (schema version, notes folder), ``scheduler`` (the FSRS settings as JSON),
``cards`` (a card, its review state, ``retired`` when its section left the notes) and
``review_log`` (one row per review, with the card's whole state before it; never rewritten,
and only ``undo`` deletes the last one). Every write is one transaction
(``BEGIN IMMEDIATE`` .. ``COMMIT``): a review updates its card and appends its log row
together, so a killed process loses at most the review in flight; SQLite's journal rolls
back the rest on the next open.

``due`` is what Anki would show: the studied cards that are due, then new cards in note
order, as many as the day's limit (``ScheduleConfig.new_per_day``) still lets in.

Reviews made in Anki come in through ``merge_reviews`` (merge.py plans it): the log gains
those it lacks and each touched card takes the FSRS replay of its whole history.

The student's own changes (the card browser: ``edit``, ``suspend``, ``resume``, ``delete``,
``add``) live in columns of their own (schema.py), so a rebuild from the notes refreshes
the notes' text under an edit and never undoes one; a card suspended or deleted is out of
study (``retired`` set) until resumed, and a deleted one is kept with its reviews.

After a session that wrote, ``deck.sqlite.bak`` is refreshed with SQLite's backup API (to a
temp file, then renamed), so a damaged deck can be put back to its last good state with
``restore_backup``. The deck never lives inside the notes folder (``check_deck_path``).
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from assistant.study import schedule
from assistant.study.cards import Card
from assistant.study.merge import MergeReport, PastReview, plan_merge
from assistant.study.records import DeckCard, ReviewRecord, SyncReport
from assistant.study.schedule import RatingName, ReviewState, ScheduleConfig, as_utc, utc_now
from assistant.study.schema import OUT_OF_STUDY, add_columns, missing_columns
from assistant.study.storage import (
    DeckCorruptError,
    DeckError,
    backup_path,
    check_deck_path,
    check_integrity,
    copy_database,
    corrupt_message,
)
from assistant.study.sync import plan_sync
from corpus.errors import SettingsError

SCHEMA_VERSION = 2  # 2: review_log.before, the card's state before each review (undo)

_SCHEMA = """
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

# What the deck hands out: the student's edit over the notes' text.
_CARD_COLUMNS = (
    "id, kind, COALESCE(edited_front, front), COALESCE(edited_back, back), full_back, source, "
    "heading, chunk_id, span_start, span_end, state, step, stability, difficulty, due, "
    "last_review, retired, edited_front IS NOT NULL OR edited_back IS NOT NULL, manual, "
    "suspended, deleted"
)
# What a rebuild compares with the notes: their own text, "retired" when the section left.
_NOTE_COLUMNS = (
    "id, kind, front, back, full_back, source, heading, chunk_id, span_start, span_end, "
    "state, step, stability, difficulty, due, last_review, gone, 0, manual, NULL, deleted"
)


def _iso(moment: datetime) -> str:
    # Fixed width (always microseconds, always +00:00): text order is time order in SQL.
    return as_utc(moment).isoformat(timespec="microseconds")


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# -- the deck ----------------------------------------------------------------------------


def _append_review(
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
            _iso(now),
            duration_ms,
            before.state,
            after.state,
            after.stability,
            after.difficulty,
            _iso(after.due),
            json.dumps(before.to_dict()),
        ),
    )


def _write_state(connection: sqlite3.Connection, card_id: str, state: ReviewState) -> None:
    connection.execute(
        "UPDATE cards SET state = ?, step = ?, stability = ?, difficulty = ?, due = ?, "
        "last_review = ? WHERE id = ?",
        (
            state.state,
            state.step,
            state.stability,
            state.difficulty,
            _iso(state.due),
            _iso(state.last_review) if state.last_review else None,
            card_id,
        ),
    )


def _card_columns(card: Card, position: int) -> tuple:
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


class Deck:
    """An open deck file. Use as a context manager: a clean exit after a write refreshes
    the backup, then the connection is closed."""

    def __init__(self, path: Path, connection: sqlite3.Connection, config: ScheduleConfig):
        self.path = path
        self.config = config
        self._connection = connection
        self._scheduler = config.scheduler()
        self._changed = False

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = False,
        schedule_config: ScheduleConfig | None = None,
        notes_dir: str | Path | None = None,
    ) -> Deck:
        """Open (``create``: or make) the deck at ``path``. ``schedule_config`` replaces the
        stored FSRS settings; ``notes_dir`` is checked not to hold the deck and recorded."""
        path = Path(path).expanduser()
        if notes_dir is not None:
            check_deck_path(path, notes_dir)
        if path.is_dir():
            raise DeckError(f"{path} es una carpeta; --deck debe ser un archivo .sqlite")
        if not path.exists():
            if not create:
                raise DeckError(
                    f"No existe el mazo {path}: créalo con `python -m assistant cards build "
                    f"--notes CARPETA --deck {path}`"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=5.0, isolation_level=None)
        try:
            tables = check_integrity(connection)
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as err:
            connection.close()
            raise DeckCorruptError(corrupt_message(path, err)) from None
        deck = cls(path, connection, schedule_config or ScheduleConfig())
        try:
            deck._prepare(tables, create, schedule_config, notes_dir)
        except BaseException:
            connection.close()
            raise
        return deck

    def _prepare(self, tables, create, schedule_config, notes_dir) -> None:
        if not tables:
            if not create:
                raise DeckError(f"{self.path} está vacío: créalo con `cards build`")
            with self.transaction() as connection:
                # One statement at a time: executescript would COMMIT the transaction first.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?), ('created', ?)",
                    (str(SCHEMA_VERSION), _iso(utc_now())),
                )
        elif not {"meta", "cards", "review_log", "scheduler"} <= tables:
            raise DeckError(
                f"{self.path} es una base de datos SQLite pero no un mazo de estudio; "
                "elige otro --deck"
            )
        version = int(self.meta("schema_version") or 0)
        if version > SCHEMA_VERSION:
            raise DeckError(
                f"El mazo {self.path} es de una versión más nueva (esquema {version}); "
                "actualiza el asistente"
            )
        if version < SCHEMA_VERSION:
            self._migrate(version)
        if lacking := missing_columns(self._connection):  # the card browser's (schema.py)
            with self.transaction() as connection:
                add_columns(connection, lacking)
        stored_notes = self.meta("notes_dir")
        if stored_notes:
            check_deck_path(self.path, stored_notes)
        row = self._connection.execute("SELECT config FROM scheduler").fetchone()
        stored = ScheduleConfig.from_dict(json.loads(row[0])) if row else None
        wanted = schedule_config or stored or ScheduleConfig()
        notes = str(Path(notes_dir).expanduser().resolve()) if notes_dir is not None else None
        if wanted != stored or (notes and notes != stored_notes):
            with self.transaction() as connection:
                connection.execute(
                    "INSERT OR REPLACE INTO scheduler (id, config) VALUES (1, ?)",
                    (json.dumps(wanted.to_dict()),),
                )
                if notes:
                    connection.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('notes_dir', ?)", (notes,)
                    )
        self.config, self._scheduler = wanted, wanted.scheduler()

    def _migrate(self, version: int) -> None:
        """An older deck brought up to SCHEMA_VERSION, in one transaction. 1 -> 2: the
        review log's ``before`` (NULL for the reviews made before it: those cannot be
        undone)."""
        with self.transaction() as connection:
            if version < 2:
                connection.execute("ALTER TABLE review_log ADD COLUMN before TEXT")
            connection.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def configure(self, **changes) -> ScheduleConfig:
        """Change some scheduler settings (``new_per_day=30``, ``desired_retention=0.85``)
        and store them; the others stay as stored. Due dates are kept: a new retention
        applies from each card's next review, as in Anki."""
        config = replace(self.config, **changes)  # ScheduleConfig checks the values
        if config != self.config:
            with self.transaction() as connection:
                connection.execute(
                    "INSERT OR REPLACE INTO scheduler (id, config) VALUES (1, ?)",
                    (json.dumps(config.to_dict()),),
                )
            self.config, self._scheduler = config, config.scheduler()
        return config

    def meta(self, key: str) -> str | None:
        row = self._connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # -- lifecycle -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed or none of it."""
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise DeckError(f"El mazo {self.path} está en uso por otro proceso ({err})") from None
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException as err:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if isinstance(err, sqlite3.OperationalError):  # disk full, read-only file...
                raise DeckError(f"No se pudo guardar el mazo {self.path} ({err})") from None
            raise
        self._changed = True

    def backup(self) -> Path:
        """Copy the deck to ``<deck>.bak`` (storage.copy_database: whole or not at all)."""
        return copy_database(self._connection, backup_path(self.path))

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> Deck:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._changed:
                self.backup()
        finally:
            self.close()

    # -- reading -------------------------------------------------------------------------

    @staticmethod
    def _row(row: tuple) -> DeckCard:
        (identity, kind, front, back, full_back, source, heading, chunk_id, start, end) = row[:10]
        (state, step, stability, difficulty, due, last_review, retired) = row[10:17]
        (edited, manual, suspended, deleted) = row[17:]
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
            due=_time(due),
            step=step,
            stability=stability,
            difficulty=difficulty,
            last_review=_time(last_review),
        )
        return DeckCard(
            card,
            review_state,
            _time(retired),
            edited=bool(edited),
            manual=bool(manual),
            suspended=_time(suspended),
            deleted=_time(deleted),
        )

    def cards(self, include_retired: bool = False) -> list[DeckCard]:
        """The deck's cards in note order (retired ones last, when asked for)."""
        where = "" if include_retired else "WHERE retired IS NULL"
        rows = self._connection.execute(
            f"SELECT {_CARD_COLUMNS} FROM cards {where} ORDER BY retired IS NOT NULL, position"
        )
        return [self._row(row) for row in rows]

    def get(self, card_id: str) -> DeckCard:
        row = self._connection.execute(
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE id = ?", (card_id,)
        ).fetchone()
        if row is None:
            raise DeckError(
                f"No hay ninguna tarjeta con id {card_id!r} en el mazo {self.path} "
                "(la lista: `cards list`)"
            )
        return self._row(row)

    def due(
        self, now: datetime | None = None, limit: int | None = None, tz: tzinfo | None = None
    ) -> list[DeckCard]:
        """Active cards due at ``now``: cards already studied first (soonest due first),
        so learning steps are not buried under new cards, then new ones in note order, as
        many as today's limit still lets in (``new_quota``; ``tz`` says where "today" is)."""
        if limit is not None and limit < 1:
            raise SettingsError(f"limit must be >= 1, got {limit}")
        now = as_utc(now or utc_now())
        studied = self._connection.execute(
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE retired IS NULL AND state != 'new' "
            "AND due <= ? ORDER BY due, position",
            (_iso(now),),
        ).fetchall()
        new = self._connection.execute(
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE retired IS NULL AND state = 'new' "
            "AND due <= ? ORDER BY position LIMIT ?",
            (_iso(now), self.new_quota(now, tz)),
        ).fetchall()
        return [self._row(row) for row in [*studied, *new][:limit]]

    def new_quota(self, now: datetime | None = None, tz: tzinfo | None = None) -> int:
        """How many new cards today still lets in: ``config.new_per_day`` less the cards
        first reviewed since midnight in ``tz`` (the machine's zone unless given). An
        undone first review gives its place back."""
        start = schedule.day_start(as_utc(now or utc_now()), tz)
        (introduced,) = self._connection.execute(
            "SELECT COUNT(DISTINCT card_id) FROM review_log WHERE state_before = 'new' "
            "AND reviewed >= ?",
            (_iso(start),),
        ).fetchone()
        return max(0, self.config.new_per_day - introduced)

    def next_card(self, now: datetime | None = None) -> DeckCard | None:
        """The card to study now: the first of ``due``; when nothing is due, the learning
        card due soonest within ``config.learn_ahead_minutes`` (Anki's learn-ahead limit:
        a ten-minute step does not end the session); None when neither."""
        now = as_utc(now or utc_now())
        due = self.due(now, limit=1)
        if due:
            return due[0]
        ahead = now + timedelta(minutes=self.config.learn_ahead_minutes)
        row = self._connection.execute(
            f"SELECT {_CARD_COLUMNS} FROM cards WHERE retired IS NULL "
            "AND state IN ('learning', 'relearning') AND due <= ? ORDER BY due, position "
            "LIMIT 1",
            (_iso(ahead),),
        ).fetchone()
        return self._row(row) if row else None

    def reviews(self, card_id: str | None = None) -> list[ReviewRecord]:
        """The review log in time order, of one card or of all."""
        query = (
            "SELECT l.card_id, c.source, l.rating, l.reviewed, l.duration_ms, l.state_before, "
            "l.state, l.stability, l.difficulty, l.due FROM review_log l "
            "JOIN cards c ON c.id = l.card_id"
        )
        params: tuple = ()
        if card_id is not None:
            query, params = query + " WHERE l.card_id = ?", (card_id,)
        rows = self._connection.execute(query + " ORDER BY l.reviewed, l.id", params)
        return [
            ReviewRecord(
                card_id=row[0],
                source=row[1],
                rating=row[2],
                reviewed=_time(row[3]),
                duration_ms=row[4],
                state_before=row[5],
                state=row[6],
                stability=row[7],
                difficulty=row[8],
                due=_time(row[9]),
            )
            for row in rows
        ]

    # -- writing -------------------------------------------------------------------------

    def review(
        self,
        card_id: str,
        rating: RatingName,
        now: datetime | None = None,
        duration_ms: int | None = None,
    ) -> DeckCard:
        """Rate a card: its new state and its log row are written in one transaction."""
        now = as_utc(now or utc_now())
        with self.transaction() as connection:
            current = self.get(card_id)
            if current.retired:
                why = {
                    "deleted": "está borrada",
                    "suspended": "está suspendida (reanúdala en «Tarjetas»)",
                }.get(current.status, "está retirada: su sección ya no está en las notas")
                raise DeckError(f"La tarjeta {card_id} {why}")
            after = schedule.review(current.state, rating, now, self._scheduler)
            _write_state(connection, card_id, after)
            _append_review(connection, card_id, rating, now, duration_ms, current.state, after)
        return DeckCard(current.card, after)

    def undo(self, card_id: str | None = None) -> DeckCard:
        """Take back the last review (of ``card_id``, else of the deck): its log row is
        deleted and the card gets back, exactly, the state it had before; one transaction.
        Returns the card as it is again."""
        where, params = ("WHERE card_id = ?", (card_id,)) if card_id else ("", ())
        with self.transaction() as connection:
            row = connection.execute(
                f"SELECT id, card_id, before FROM review_log {where} "
                "ORDER BY reviewed DESC, id DESC LIMIT 1",
                params,
            ).fetchone()
            if row is None:
                raise DeckError("No hay ningún repaso que deshacer")
            log_id, card_id, before = row
            if before is None:
                raise DeckError(
                    "Ese repaso es de una versión anterior del mazo y no se puede deshacer"
                )
            state = ReviewState.from_dict(json.loads(before))
            _write_state(connection, card_id, state)
            connection.execute("DELETE FROM review_log WHERE id = ?", (log_id,))
        return self.get(card_id)

    def sync(
        self,
        cards: list[Card],
        now: datetime | None = None,
        sources: Iterable[str] | None = None,
    ) -> SyncReport:
        """Make the deck hold exactly ``cards`` (build_cards' output), keeping every
        review: the rules are in sync.py; all of it is one transaction.

        The student's changes stay: an edit (only the notes' text under it is refreshed),
        a suspension, a deletion (a deleted card built again stays deleted). A card added
        by hand stays while its note is among ``sources`` (the notes read; default: those
        of ``cards``), and is retired, like a built card, while its note is gone."""
        now = as_utc(now or utc_now())
        notes = set(sources) if sources is not None else {card.source for card in cards}
        with self.transaction() as connection:
            built = connection.execute(f"SELECT {_NOTE_COLUMNS} FROM cards WHERE manual = 0")
            plan = plan_sync([self._row(row) for row in built], cards)
            for position, card, old_id in plan.rewrites:
                self._write_card(connection, card, position, old_id)
            for position, card in plan.inserts:
                self._insert(connection, card, position, now)
            connection.executemany(
                "UPDATE cards SET gone = ? WHERE id = ?",
                [(_iso(now), card_id) for card_id in plan.retire],
            )
            self._place_manual(connection, notes, now)
            connection.execute(OUT_OF_STUDY)
        return plan.report

    @staticmethod
    def _insert(
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
                *_card_columns(card, position),
                fresh.state,
                fresh.step,
                _iso(fresh.due),
                _iso(now),
                int(manual),
            ),
        )

    @staticmethod
    def _write_card(connection: sqlite3.Connection, card: Card, position: int, old_id: str):
        """Overwrite the row ``old_id`` with ``card`` (its id too: the review log follows
        through ON UPDATE CASCADE), back in the notes; the review state and the student's
        edit, suspension or deletion are kept."""
        connection.execute(
            "UPDATE cards SET id = ?, kind = ?, front = ?, back = ?, full_back = ?, source = ?, "
            "heading = ?, chunk_id = ?, span_start = ?, span_end = ?, position = ?, "
            "gone = NULL WHERE id = ?",
            (
                *_card_columns(card, position),
                old_id,
            ),
        )

    def merge_reviews(self, reviews: Iterable[PastReview]) -> MergeReport:
        """Add reviews made elsewhere (Anki) that the log lacks, and set each card they
        touch to the FSRS replay of its whole history (merge.py); one transaction."""
        by_card: dict[str, list[PastReview]] = defaultdict(list)
        for review in reviews:
            by_card[review.card_id].append(review)
        added = duplicates = cards = 0
        with self.transaction() as connection:
            for card_id, incoming in by_card.items():
                self.get(card_id)  # an unknown id is an error, never a new card
                logged = [
                    (rating, datetime.fromisoformat(reviewed))
                    for rating, reviewed in connection.execute(
                        "SELECT rating, reviewed FROM review_log WHERE card_id = ? "
                        "ORDER BY reviewed, id",
                        (card_id,),
                    )
                ]
                merge = plan_merge(logged, incoming, self._scheduler)
                duplicates += merge.duplicates
                if merge.final is None:
                    continue
                for row in merge.rows:
                    review = row.review
                    _append_review(
                        connection,
                        card_id,
                        review.rating,
                        review.reviewed,
                        review.duration_ms,
                        row.before,
                        row.after,
                    )
                _write_state(connection, card_id, merge.final)
                added += len(merge.rows)
                cards += 1
        return MergeReport(added=added, duplicates=duplicates, cards=cards)

    # -- the student's changes (the card browser) --------------------------------------

    def edit(self, card_id: str, front: str, back: str) -> DeckCard:
        """Give a card the student's front and back: its id, schedule and reviews stay,
        and a rebuild keeps the edit. Text equal to the notes' is no edit (it clears one)."""
        front, back = front.strip(), back.strip()
        if not front or not back:
            raise DeckError("Una tarjeta necesita frente y reverso: ninguno puede quedar vacío")
        with self.transaction() as connection:
            self.get(card_id)
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
        return self.get(card_id)

    def suspend(self, card_id: str, now: datetime | None = None) -> DeckCard:
        """Take a card out of study until ``resume``: never due, its schedule kept."""
        return self._mark(card_id, "suspended = COALESCE(suspended, ?)", now)

    def resume(self, card_id: str) -> DeckCard:
        """Put a suspended card back in study (due when it was due, unless it left the
        notes meanwhile)."""
        return self._mark(card_id, "suspended = NULL")

    def delete(self, card_id: str, now: datetime | None = None) -> DeckCard:
        """Delete a card for good: hidden and never due; the row and its reviews stay (the
        statistics' history), and a rebuild that builds it again leaves it deleted."""
        return self._mark(card_id, "deleted = COALESCE(deleted, ?)", now)

    def _mark(self, card_id: str, assignment: str, now: datetime | None = None) -> DeckCard:
        params = (card_id,) if "?" not in assignment else (_iso(now or utc_now()), card_id)
        with self.transaction() as connection:
            self.get(card_id)
            connection.execute(f"UPDATE cards SET {assignment} WHERE id = ?", params)
            connection.execute(OUT_OF_STUDY)
        return self.get(card_id)

    def add(self, card: Card, now: datetime | None = None) -> DeckCard:
        """A card written by hand (browse.manual_card), new to the schedule and due at
        ``now``; a rebuild keeps it while its note is in the notes folder."""
        now = as_utc(now or utc_now())
        with self.transaction() as connection:
            taken = connection.execute("SELECT 1 FROM cards WHERE id = ?", (card.id,))
            if taken.fetchone():
                raise DeckError(f"Ya hay una tarjeta con id {card.id} en el mazo {self.path}")
            position = self._position_in_note(connection, card.source, card.start)
            self._insert(connection, card, position, now, manual=True)
        return self.get(card.id)

    @staticmethod
    def _position_in_note(connection: sqlite3.Connection, source: str, start: int) -> int:
        """Where a manual card goes in note order: at the built card of its note that
        comes last before it (else the note's first), or after every card."""
        (before, first, last) = connection.execute(
            "SELECT MAX(CASE WHEN span_start <= ? THEN position END), MIN(position), "
            "(SELECT MAX(position) + 1 FROM cards) FROM cards WHERE manual = 0 AND source = ?",
            (start, source),
        ).fetchone()
        position = before if before is not None else first if first is not None else last
        return position or 0

    def _place_manual(self, connection: sqlite3.Connection, notes: set[str], now: datetime):
        """After a rebuild: each manual card at its place in note order again, retired
        while its note is not among ``notes`` and back when it is."""
        rows = connection.execute(
            "SELECT id, source, span_start, gone FROM cards WHERE manual = 1"
        ).fetchall()
        for card_id, source, start, gone in rows:
            gone = None if source in notes else gone or _iso(now)
            position = self._position_in_note(connection, source, start)
            connection.execute(
                "UPDATE cards SET position = ?, gone = ? WHERE id = ?", (position, gone, card_id)
            )
