"""The deck: cards, their review state and every review, in one SQLite file.

``Deck`` opens it and is the way in for every read and write; the parts live beside it:
schema.py (the tables, their version and migrations), rows.py (a ``cards`` row as a record
and back), review_log.py (the reviews: one row each, with the card's whole state before it;
never rewritten, and only ``undo`` deletes the last one), edits.py (the student's changes)
and sync.py (what a rebuild from the notes changes). Every write is one transaction
(``BEGIN IMMEDIATE`` .. ``COMMIT``): a review updates its card and appends its log row
together, so a killed process loses at most the review in flight; SQLite's journal rolls
back the rest on the next open.

``due`` is what Anki would show: the studied cards that are due, then new cards in note
order, as many as the day's limit (``ScheduleConfig.new_per_day``) still lets in.

Reviews made in Anki come in through ``merge_reviews`` (merge.py plans it): the log gains
those it lacks and each touched card takes the FSRS replay of its whole history; a card
suspended or put back in study there comes back so, when Anki changed it last.

The student's own changes (the card browser: ``edit``, ``suspend``, ``resume``, ``delete``,
``undelete``, ``add``) live in columns of their own (schema.py), so a rebuild from the notes
refreshes the notes' text under an edit and never undoes one; a card suspended or deleted
is out of study (``retired`` set) until resumed or undeleted, and a deleted one is kept
with its reviews.

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

from assistant.study import edits, review_log, schedule
from assistant.study.cards import Card
from assistant.study.merge import MergeReport, PastReview, Suspension
from assistant.study.records import DeckCard, ReviewRecord, SyncReport
from assistant.study.rows import (
    CARD_COLUMNS,
    NOTE_COLUMNS,
    deck_card,
    insert_card,
    iso,
    rewrite_card,
)
from assistant.study.schedule import RatingName, ScheduleConfig, as_utc, utc_now
from assistant.study.schema import (
    OUT_OF_STUDY,
    REQUIRED_TABLES,
    SCHEMA_VERSION,
    add_columns,
    create_tables,
    migrate,
    missing_columns,
)
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
                create_tables(connection, iso(utc_now()))
        elif not REQUIRED_TABLES <= tables:
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
        if version < SCHEMA_VERSION:  # in one transaction: all of it or none
            with self.transaction() as connection:
                migrate(connection, version)
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

    def cards(self, include_retired: bool = False) -> list[DeckCard]:
        """The deck's cards in note order (retired ones last, when asked for)."""
        where = "" if include_retired else "WHERE retired IS NULL"
        rows = self._connection.execute(
            f"SELECT {CARD_COLUMNS} FROM cards {where} ORDER BY retired IS NOT NULL, position"
        )
        return [deck_card(row) for row in rows]

    def get(self, card_id: str) -> DeckCard:
        row = self._connection.execute(
            f"SELECT {CARD_COLUMNS} FROM cards WHERE id = ?", (card_id,)
        ).fetchone()
        if row is None:
            raise DeckError(
                f"No hay ninguna tarjeta con id {card_id!r} en el mazo {self.path} "
                "(la lista: `cards list`)"
            )
        return deck_card(row)

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
            f"SELECT {CARD_COLUMNS} FROM cards WHERE retired IS NULL AND state != 'new' "
            "AND due <= ? ORDER BY due, position",
            (iso(now),),
        ).fetchall()
        new = self._connection.execute(
            f"SELECT {CARD_COLUMNS} FROM cards WHERE retired IS NULL AND state = 'new' "
            "AND due <= ? ORDER BY position LIMIT ?",
            (iso(now), self.new_quota(now, tz)),
        ).fetchall()
        return [deck_card(row) for row in [*studied, *new][:limit]]

    def new_quota(self, now: datetime | None = None, tz: tzinfo | None = None) -> int:
        """How many new cards today still lets in: ``config.new_per_day`` less the cards
        first reviewed since midnight in ``tz`` (the machine's zone unless given). An
        undone first review gives its place back."""
        start = schedule.day_start(as_utc(now or utc_now()), tz)
        (introduced,) = self._connection.execute(
            "SELECT COUNT(DISTINCT card_id) FROM review_log WHERE state_before = 'new' "
            "AND reviewed >= ?",
            (iso(start),),
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
            f"SELECT {CARD_COLUMNS} FROM cards WHERE retired IS NULL "
            "AND state IN ('learning', 'relearning') AND due <= ? ORDER BY due, position "
            "LIMIT 1",
            (iso(ahead),),
        ).fetchone()
        return deck_card(row) if row else None

    def reviews(self, card_id: str | None = None) -> list[ReviewRecord]:
        """The review log in time order, of one card or of all."""
        return review_log.read_reviews(self._connection, card_id)

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
            review_log.record_review(
                connection, card_id, rating, now, duration_ms, current.state, after
            )
        return DeckCard(current.card, after)

    def undo(self, card_id: str | None = None) -> DeckCard:
        """Take back the last review (of ``card_id``, else of the deck): its log row is
        deleted and the card gets back, exactly, the state it had before; one transaction.
        Returns the card as it is again."""
        with self.transaction() as connection:
            undone = review_log.undo_last(connection, card_id)
        return self.get(undone)

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
            built = connection.execute(f"SELECT {NOTE_COLUMNS} FROM cards WHERE manual = 0")
            plan = plan_sync([deck_card(row) for row in built], cards)
            for position, card, old_id in plan.rewrites:
                rewrite_card(connection, card, position, old_id)
            for position, card in plan.inserts:
                insert_card(connection, card, position, now)
            connection.executemany(
                "UPDATE cards SET gone = ? WHERE id = ?",
                [(iso(now), card_id) for card_id in plan.retire],
            )
            edits.place_manual(connection, notes, now)
            connection.execute(OUT_OF_STUDY)
        return plan.report

    def merge_reviews(
        self, reviews: Iterable[PastReview], suspensions: Iterable[Suspension] = ()
    ) -> MergeReport:
        """Add reviews made elsewhere (Anki) that the log lacks, and set each card they
        touch to the FSRS replay of its whole history (merge.py); take each card's
        ``suspensions`` state where that side changed the card last
        (merge.suspension_wins). One transaction."""
        by_card: dict[str, list[PastReview]] = defaultdict(list)
        for review in reviews:
            by_card[review.card_id].append(review)
        suspensions = list(suspensions)
        with self.transaction() as connection:
            for card_id in {*by_card, *(state.card_id for state in suspensions)}:
                self.get(card_id)  # an unknown id is an error, never a new card
            merged = review_log.merge(connection, by_card, self._scheduler)
            suspended, resumed = edits.merge_suspensions(connection, suspensions)
        return replace(merged, suspended=suspended, resumed=resumed)

    # -- the student's changes (the card browser) --------------------------------------

    def edit(self, card_id: str, front: str, back: str) -> DeckCard:
        """Give a card the student's front and back: its id, schedule and reviews stay,
        and a rebuild keeps the edit. Text equal to the notes' is no edit (it clears one)."""
        front, back = front.strip(), back.strip()
        if not front or not back:
            raise DeckError("Una tarjeta necesita frente y reverso: ninguno puede quedar vacío")
        with self.transaction() as connection:
            self.get(card_id)
            edits.edit_text(connection, card_id, front, back)
        return self.get(card_id)

    def suspend(self, card_id: str, now: datetime | None = None) -> DeckCard:
        """Take a card out of study until ``resume``: never due, its schedule kept."""
        return self._mark(card_id, edits.SUSPEND, now)

    def resume(self, card_id: str, now: datetime | None = None) -> DeckCard:
        """Put a suspended card back in study (due when it was due, unless it left the
        notes meanwhile); ``now`` is kept as the suspension's last change here."""
        return self._mark(card_id, edits.RESUME, now)

    def delete(self, card_id: str, now: datetime | None = None) -> DeckCard:
        """Delete a card for good: hidden and never due; the row and its reviews stay (the
        statistics' history), and a rebuild that builds it again leaves it deleted."""
        return self._mark(card_id, edits.DELETE, now)

    def undelete(self, card_id: str) -> DeckCard:
        """Bring a deleted card back: the same id, schedule and reviews, in study again
        unless it is suspended or its section left the notes."""
        if self.get(card_id).deleted is None:
            raise DeckError(f"La tarjeta {card_id} no está borrada: no hay nada que recuperar")
        return self._mark(card_id, edits.UNDELETE)

    def _mark(self, card_id: str, assignment: str, now: datetime | None = None) -> DeckCard:
        with self.transaction() as connection:
            self.get(card_id)
            edits.mark(connection, card_id, assignment, now or utc_now())
        return self.get(card_id)

    def add(self, card: Card, now: datetime | None = None) -> DeckCard:
        """A card written by hand (browse.manual_card), new to the schedule and due at
        ``now``; a rebuild keeps it while its note is in the notes folder."""
        now = as_utc(now or utc_now())
        with self.transaction() as connection:
            edits.add_manual(connection, card, now, str(self.path))
        return self.get(card.id)
