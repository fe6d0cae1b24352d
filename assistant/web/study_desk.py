"""Study mode in the app, without Gradio: the deck beside the notes, one due card at a time.

``StudyDesk`` is shared by every browser session: it rebuilds the deck from the notes
(``build_cards`` + ``Deck.sync``), hands out the next due card with the passage it came
from, grades a written answer (``quiz.grade_answer`` with the support checker alone: no
chat model), saves ratings, and computes statistics and exports. ``StudySession`` is one
browser's place in it: the card on screen, whether its back is shown, the proposed grade,
how many cards were rated and which (``undo`` takes the last rating back). The card on
screen comes with the interval each rating would give it (``schedule.preview``).
app.py maps both onto Gradio components.

The deck is opened for each operation (SQLite connections stay in the thread that made
them, and Gradio runs callbacks in a pool) under one lock, so two browser tabs never race
for its write transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from assistant.study.anki_import import ImportReport, import_anki
from assistant.study.browse import (
    Section,
    clean_text,
    find_cards,
    find_section,
    manual_card,
    note_sections,
    tags_by_note,
)
from assistant.study.cards import Card, build_cards
from assistant.study.deck import Deck
from assistant.study.export import check_output, export_deck, write_csv
from assistant.study.quiz import (
    Grade,
    GradeConfig,
    MultipleChoice,
    back_vectors,
    choice_rating,
    grade_answer,
    multiple_choice,
)
from assistant.study.records import DeckCard, SyncReport
from assistant.study.schedule import (
    RatingName,
    ScheduleConfig,
    parse_rating,
    preview,
    utc_now,
)
from assistant.study.stats import deck_stats, plot_reviews_per_day
from assistant.study.storage import DeckError, check_deck_path
from assistant.web.note_images import NoteLinks
from corpus.config import ChunkConfig
from corpus.errors import AssistantError
from corpus.loader import load_notes
from corpus.records import Chunk

if TYPE_CHECKING:
    from assistant.support.scorer import Checker

ExportFormat = Literal["apkg", "csv"]
EXPORT_NAME = "asistente-de-estudio"  # the downloaded file's name, before its extension
PLOT_NAME = "repasos_por_dia.png"


class StudyError(AssistantError):
    """A study action that cannot be done now (no card on screen, back not shown yet)."""


@dataclass(frozen=True)
class Passage:
    """The part of the notes a card was taken from, as the chat's sources panel shows it."""

    source: str
    heading: str
    text: str  # the chunk holding the card's start (its whole text)
    mark: tuple[int, int] | None = None  # the card's span within ``text``, when a part of it


def card_passage(card: Card, chunks: Mapping[str, Chunk]) -> Passage:
    """The chunk the card points to, with the card's own span marked; the card's full
    back when the index does not hold that chunk (an index built with other settings)."""
    chunk = chunks.get(card.chunk_id)
    if chunk is None or chunk.source != card.source:
        return Passage(card.source, card.heading, card.full_back or card.back)
    start = max(card.start, chunk.start) - chunk.start
    end = min(card.end, chunk.end) - chunk.start
    whole = start <= 0 and end >= len(chunk.text)  # a question card: its whole section
    mark = (start, end) if 0 <= start < end and not whole else None
    return Passage(chunk.source, chunk.heading, chunk.text, mark)


@dataclass(frozen=True)
class LastReview:
    """The rating just given, to confirm it on screen."""

    front: str
    rating: RatingName
    due: datetime


@dataclass
class StudySession:
    """One browser session's place in the deck; gr.State gives each session its own."""

    card_id: str | None = None
    revealed: bool = False
    answer: str = ""  # the written answer that ``grade`` scored
    grade: Grade | None = None
    choice: MultipleChoice | None = None  # the options shown for the card (choice mode)
    picked: int | None = None  # the option chosen, once checked
    shown_at: float | None = None  # time.monotonic() when the front appeared
    reviewed: int = 0  # cards rated in this session
    last: LastReview | None = None
    rated: list[str] = field(default_factory=list)  # their ids, oldest first: what undo takes

    def show(self, card_id: str | None) -> None:
        self.card_id, self.revealed, self.answer, self.grade = card_id, False, "", None
        self.choice, self.picked = None, None
        self.shown_at = time.monotonic() if card_id else None


@dataclass(frozen=True)
class CardView:
    """What the tab shows: the card on screen (None: nothing due) and, once revealed, its
    back's passage; when nothing is due, when the next card is (None: the deck is empty).
    ``links``: what the passage's [[links]] open and its images, as in the chat's sources."""

    row: DeckCard | None
    revealed: bool = False
    passage: Passage | None = None
    answer: str = ""
    grade: Grade | None = None
    choice: MultipleChoice | None = None
    picked: int | None = None
    next_due: datetime | None = None
    cards: int = 0  # active cards in the deck
    links: NoteLinks | None = None
    # What each rating would give the card now (its buttons say it: "Bien · 3 d").
    intervals: dict[RatingName, timedelta] | None = None

    @property
    def proposal(self) -> RatingName | None:
        """The rating proposed for a written answer or a checked pick, if any."""
        if self.grade is not None:
            return self.grade.rating
        if self.choice is not None and self.picked is not None:
            return choice_rating(self.choice, self.picked)
        return None


@dataclass
class StudyDesk:
    """The deck file of a notes folder and the operations the study tab needs."""

    deck_path: Path
    notes_dir: Path
    exports_dir: Path  # exports and the plot; never inside the notes folder (checked)
    make_checker: Callable[[], Checker] | None = None  # default: support.make_checker
    grade_config: GradeConfig = field(default_factory=GradeConfig)
    # Whose similarity picks the multiple-choice options: the index's (``rebuild``).
    embedder: str = "e5-small"

    def __post_init__(self) -> None:
        self.deck_path, self.notes_dir = Path(self.deck_path), Path(self.notes_dir)
        self.exports_dir = Path(self.exports_dir)
        check_deck_path(self.deck_path, self.notes_dir)
        self._lock = threading.Lock()  # one deck operation at a time
        self._checker_lock = threading.Lock()  # the checker loads once, grades one at a time
        self._checker: Checker | None = None
        self._chunks: dict[str, Chunk] = {}
        self._links: NoteLinks | None = None  # the folder's notes and images, once rebuilt

    # -- the deck ----------------------------------------------------------------------

    @contextmanager
    def _deck(self) -> Iterator[Deck]:
        with self._lock, Deck.open(self.deck_path) as deck:
            yield deck

    def rebuild(
        self,
        chunks: list[Chunk],
        chunk_config: ChunkConfig,
        now: datetime | None = None,
        embedder: str | None = None,
    ) -> SyncReport:
        """Cards from the notes as they are now into the deck, every review kept; ``chunks``
        and ``chunk_config`` are the index's, so each card's chunk is one of ``chunks``;
        ``embedder`` the index's too, for the multiple-choice options (``choices``)."""
        if embedder is not None:
            self.embedder = embedder
        notes = load_notes(self.notes_dir, chunk_config).notes
        cards = build_cards(notes, chunk_config=chunk_config)
        with self._lock:
            with Deck.open(self.deck_path, create=True, notes_dir=self.notes_dir) as deck:
                report = deck.sync(cards, now, sources=[note.source for note in notes])
            self._chunks = {chunk.id: chunk for chunk in chunks}
            self._links = NoteLinks(self.notes_dir, [note.source for note in notes])
        return report

    def view(self, session: StudySession, now: datetime | None = None) -> CardView:
        """The session's card if it is still in the deck, else the next due one."""
        now = now or utc_now()
        with self._deck() as deck:
            row = None
            if session.card_id is not None:
                try:
                    row = deck.get(session.card_id)
                except DeckError:  # a rebuild gave its edited text a new id
                    row = None
                if row is not None and row.retired:  # its section left the notes
                    row = None
            if row is None:
                row = deck.next_card(now)
                session.show(row.card.id if row else None)
            active = deck.cards() if row is None else []
            intervals = preview(row.state, now, deck.config) if row is not None else None
        if row is None:
            upcoming = [r.state.due for r in active]
            return CardView(None, next_due=min(upcoming, default=None), cards=len(active))
        passage = card_passage(row.card, self._chunks) if session.revealed else None
        return CardView(
            row,
            session.revealed,
            passage,
            session.answer,
            session.grade,
            session.choice,
            session.picked,
            links=self._links,
            intervals=intervals,
        )

    def reveal(self, session: StudySession) -> None:
        if session.card_id is None:
            raise StudyError("No hay ninguna tarjeta en pantalla")
        session.revealed = True

    def grade(self, session: StudySession, answer: str) -> Grade:
        """Propose a rating for a written answer to the session's card and show its back."""
        if session.card_id is None:
            raise StudyError("No hay ninguna tarjeta que responder")
        with self._deck() as deck:
            card = deck.get(session.card_id).card
        with self._checker_lock:
            if self._checker is None:
                if self.make_checker is None:
                    from assistant.support import make_checker

                    self.make_checker = make_checker
                self._checker = self.make_checker()
            grade = grade_answer(card, answer or "", self._checker, self.grade_config)
        session.answer, session.grade, session.revealed = answer or "", grade, True
        return grade

    def choices(self, session: StudySession, seed: int = 0) -> MultipleChoice:
        """The options for the session's card (kept for it until the next card): its back
        among the nearest backs of other active cards of its kind, from other sections
        (``quiz.multiple_choice``, by ``embedder``'s similarity; the first call embeds the
        deck's backs of that kind, once). QuizError when no other card of its kind exists."""
        if session.card_id is None:
            raise StudyError("No hay ninguna tarjeta en pantalla")
        if session.choice is not None and session.choice.card_id == session.card_id:
            return session.choice
        with self._deck() as deck:
            card = deck.get(session.card_id).card
            pool = [row.card for row in deck.cards()]
        backs = back_vectors(self.embedder)
        session.choice, session.picked = multiple_choice(card, pool, seed, backs=backs), None
        return session.choice

    def pick(self, session: StudySession, option: int | None) -> RatingName:
        """Check the chosen option and show the back; returns the proposed rating."""
        if session.card_id is None or session.choice is None:
            raise StudyError("No hay ninguna pregunta con opciones en pantalla")
        if option is None or not 0 <= option < len(session.choice.options):
            raise StudyError("Elige una de las opciones antes de comprobar")
        session.picked, session.revealed = option, True
        return choice_rating(session.choice, option)

    def rate(self, session: StudySession, rating: str, now: datetime | None = None) -> DeckCard:
        """Save the rating of the session's card (after its back was shown) and clear the
        screen for the next one; returns the card with its next due date."""
        name = parse_rating(rating)
        if session.card_id is None:
            raise StudyError("No hay ninguna tarjeta que valorar")
        if not session.revealed:
            raise StudyError("Muestra la respuesta antes de valorar la tarjeta")
        shown = session.shown_at
        duration_ms = int((time.monotonic() - shown) * 1000) if shown is not None else None
        try:
            with self._deck() as deck:
                row = deck.review(session.card_id, name, now, duration_ms=duration_ms)
        finally:  # a retired or vanished card is not shown again either
            session.show(None)
        session.reviewed += 1
        session.last = LastReview(row.card.front, name, row.state.due)
        session.rated.append(row.card.id)
        return row

    def undo(self, session: StudySession) -> DeckCard:
        """Take back the session's last rating (``Deck.undo``: the card's state before it,
        exactly) and put that card back on screen, front first; one step per call."""
        if not session.rated:
            raise StudyError("No hay ninguna valoración de esta sesión que deshacer")
        card_id = session.rated[-1]
        with self._deck() as deck:
            row = deck.undo(card_id)
        session.rated.pop()
        session.reviewed = max(0, session.reviewed - 1)
        session.last = None
        session.show(row.card.id)
        return row

    # -- scheduling settings -----------------------------------------------------------

    def settings(self) -> ScheduleConfig:
        """The deck's FSRS settings (its daily new cards, its desired retention)."""
        with self._deck() as deck:
            return deck.config

    def configure(
        self, new_per_day: int | None = None, desired_retention: float | None = None
    ) -> ScheduleConfig:
        """Store the daily new-card limit and the desired retention in the deck, where the
        CLI reads them too; a value out of range is a one-line Spanish error."""
        changes: dict = {}
        if new_per_day is not None:
            if new_per_day < 0 or new_per_day != int(new_per_day):
                raise StudyError(
                    f"Tarjetas nuevas al día: un entero de 0 en adelante, no {new_per_day}"
                )
            changes["new_per_day"] = int(new_per_day)
        if desired_retention is not None:
            if not 0.0 < desired_retention < 1.0:
                raise StudyError(
                    f"Retención deseada: entre 0 y 1 (sin incluirlos), no {desired_retention}"
                )
            changes["desired_retention"] = float(desired_retention)
        with self._deck() as deck:
            return deck.configure(**changes)

    # -- statistics and exports --------------------------------------------------------

    def stats(self, now: datetime | None = None) -> dict:
        """stats.deck_stats of the deck."""
        with self._deck() as deck:
            return deck_stats(deck, now)

    def plot(self, stats: dict) -> Path:
        """The reviews-per-day PNG of ``stats`` in the exports folder."""
        out = check_output(self.exports_dir / PLOT_NAME, ".png", self._inputs())
        return plot_reviews_per_day(stats, out)

    def export(self, fmt: ExportFormat) -> tuple[Path, int]:
        """The deck's active cards as an Anki package (with each card's schedule and its
        reviews, and its suspended cards suspended: export.export_deck) or CSV: (file,
        cards written)."""
        if fmt not in ("apkg", "csv"):
            raise StudyError(f"Formato de exportación no válido: {fmt!r}; usa apkg o csv")
        out = check_output(self.exports_dir / f"{EXPORT_NAME}.{fmt}", f".{fmt}", self._inputs())
        with self._deck() as deck:
            if fmt == "apkg":
                return out, export_deck(deck, out, inputs=self._inputs())
            cards = [row.card for row in deck.cards()]
        return out, write_csv(cards, out, self._inputs())

    def import_anki(self, package: str | Path) -> ImportReport:
        """The reviews of an Anki package merged into the deck (anki_import.import_anki:
        once each, every touched card replayed with FSRS); ``summary()`` says it."""
        with self._deck() as deck:
            return import_anki(deck, package)

    def _inputs(self) -> list[Path]:
        return [self.deck_path, self.notes_dir]

    # -- the card browser (browse.py) --------------------------------------------------

    def find(self, query: str = "", deleted: bool = False) -> list[DeckCard]:
        """The cards ``query`` matches by text, note or tag, in note order; retired and
        suspended ones too, deleted ones never (``deleted``: those alone, the last deleted
        first: what ``undelete_card`` brings back)."""
        with self._deck() as deck:
            rows = deck.cards(include_retired=True)
        return find_cards(rows, query, tags_by_note(self._chunks.values()), deleted)

    def card(self, card_id: str) -> DeckCard:
        with self._deck() as deck:
            return deck.get(card_id)

    def edit_card(self, card_id: str, front: str, back: str) -> DeckCard:
        """The student's front and back for a card: same id, schedule and reviews."""
        front, back = clean_text(front, back)
        with self._deck() as deck:
            return deck.edit(card_id, front, back)

    def suspend_card(self, card_id: str) -> DeckCard:
        with self._deck() as deck:
            return deck.suspend(card_id)

    def resume_card(self, card_id: str) -> DeckCard:
        with self._deck() as deck:
            return deck.resume(card_id)

    def delete_card(self, card_id: str) -> DeckCard:
        with self._deck() as deck:
            return deck.delete(card_id)

    def undelete_card(self, card_id: str) -> DeckCard:
        """A deleted card back, with its id, schedule and reviews (``Deck.undelete``)."""
        with self._deck() as deck:
            return deck.undelete(card_id)

    def sections(self) -> dict[str, list[Section]]:
        """Each note's sections, as the index holds them (empty before ``rebuild``)."""
        return note_sections(self._chunks.values())

    def add_card(
        self,
        source: str | None,
        section: str | None,
        front: str,
        back: str,
        now: datetime | None = None,
    ) -> DeckCard:
        """A card written by hand for the section labelled ``section`` of note ``source``:
        new, due now, and kept by every rebuild while the note is in the folder."""
        card = manual_card(find_section(self.sections(), source, section), front, back, now)
        with self._deck() as deck:
            return deck.add(card, now)
