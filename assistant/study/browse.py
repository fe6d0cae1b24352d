"""The card browser's logic, without Gradio: find the deck's cards by their text, note or
tag, the rows the browser lists, and a card written by hand for a section of a note. The
writes themselves are the deck's (``Deck.edit``, ``suspend``, ``resume``, ``delete``,
``undelete``, ``add``); the app's study tab and the ``cards`` commands both come here.

A query is words, and a card must match every one, accents and case aside:

- ``#rnn`` or ``etiqueta:rnn``: a tag of the card's note (its front matter's ``tags``)
  starts with "rnn";
- ``nota:teacher``: the note's path holds "teacher";
- any other word: the card's front, back, note path, heading or note tags hold it.

Quotes keep words together ("self attention"). Deleted cards are listed only when asked
for (``deleted=True``: what can be undeleted); suspended and retired ones always are, with
their status.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from assistant.study.cards import Card
from assistant.study.records import DeckCard
from assistant.study.schedule import as_utc, utc_now
from corpus.errors import AssistantError
from corpus.records import Chunk, content_hash
from corpus.text import fold_accents

TAG_PREFIXES = ("#", "etiqueta:", "tag:")
NOTE_PREFIX = "nota:"
STATUS_LABELS = {
    "new": "nueva",
    "learning": "aprendiendo",
    "review": "en repaso",
    "relearning": "reaprendiendo",
    "suspended": "suspendida",
    "retired": "retirada (ya no está en las notas)",
    "deleted": "borrada",
}
NO_HEADING = "(inicio de la nota)"  # the text before a note's first heading
CELL_CHARS = 90  # a table cell shows this much of a card's text; the editor shows it all


class BrowseError(AssistantError):
    """A card browser action that cannot be done as asked (empty text, no such section)."""


def _fold(text: str) -> str:
    return fold_accents(text).casefold()


@dataclass(frozen=True)
class CardQuery:
    """A parsed query: every part must match (folded: lowercase, no accents)."""

    words: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> CardQuery:
        try:
            parts = shlex.split(text or "")
        except ValueError:  # an unclosed quote: the words as typed
            parts = (text or "").replace('"', " ").replace("'", " ").split()
        words: list[str] = []
        notes: list[str] = []
        tags: list[str] = []
        for part in map(_fold, parts):
            prefix = next((p for p in TAG_PREFIXES if part.startswith(p)), None)
            if prefix and part[len(prefix) :]:
                tags.append(part[len(prefix) :].lstrip("#"))
            elif part.startswith(NOTE_PREFIX) and part[len(NOTE_PREFIX) :]:
                notes.append(part[len(NOTE_PREFIX) :])
            elif part.strip():
                words.append(part)
        return cls(tuple(words), tuple(notes), tuple(tags))

    def matches(self, row: DeckCard, tags: Iterable[str] = ()) -> bool:
        """Whether ``row`` (whose note carries ``tags``) matches every part."""
        card = row.card
        folded_tags = [_fold(tag).lstrip("#") for tag in tags]
        source = _fold(card.source)
        if not all(note in source for note in self.notes):
            return False
        if not all(any(tag.startswith(want) for tag in folded_tags) for want in self.tags):
            return False
        haystack = _fold(" \n".join([card.front, card.back, card.source, card.heading]))
        haystack += " \n" + " ".join(folded_tags)
        return all(word in haystack for word in self.words)


def find_cards(
    rows: Iterable[DeckCard],
    query: str,
    tags_by_note: Mapping[str, tuple[str, ...]],
    deleted: bool = False,
) -> list[DeckCard]:
    """The cards of ``rows`` (the deck's, retired included) that ``query`` matches, in
    their order, deleted ones left out (``deleted``: those alone, the last deleted first);
    ``tags_by_note``: each note's tags."""
    parsed = CardQuery.parse(query)
    found = [
        row
        for row in rows
        if (row.deleted is not None) == deleted
        and parsed.matches(row, tags_by_note.get(row.card.source, ()))
    ]
    if deleted:
        found.sort(key=lambda row: row.deleted, reverse=True)
    return found


def status_label(row: DeckCard) -> str:
    """Its status in Spanish, and whether the student edited or wrote it."""
    label = STATUS_LABELS.get(row.status, row.status)
    if row.manual:
        label += " · a mano"
    elif row.edited:
        label += " · editada"
    return label


def _cell(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1].rstrip() + "…"


BROWSE_HEADERS = ["Frente", "Reverso", "Nota", "Estado", "Id"]


def browse_rows(rows: Iterable[DeckCard]) -> list[list[str]]:
    """One table row per card (BROWSE_HEADERS): its text cut to a cell, its note, its
    status and its id (what a selected row names)."""
    return [
        [
            _cell(row.card.front),
            _cell(row.card.back),
            row.card.source,
            status_label(row),
            row.card.id,
        ]
        for row in rows
    ]


def deleted_choices(rows: Iterable[DeckCard]) -> list[tuple[str, str]]:
    """(label, id) of each deleted card, for the list to bring one back from: its front cut
    to a cell, its note and the day it was deleted (in the machine's zone)."""
    return [
        (
            f"{_cell(row.card.front)} — {row.card.source}, "
            f"borrada el {row.deleted.astimezone():%d/%m/%Y}",
            row.card.id,
        )
        for row in rows
        if row.deleted is not None
    ]


def tags_by_note(chunks: Iterable[Chunk]) -> dict[str, tuple[str, ...]]:
    """Each note's tags, as its chunks carry them."""
    return {chunk.source: chunk.tags for chunk in chunks if chunk.tags}


# -- a card by hand ----------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A section of a note as the index cut it: where a hand-written card points."""

    source: str
    heading: str  # its heading path, "A > B" ("" before the first heading)
    chunk_id: str  # its first chunk
    start: int
    end: int
    text: str  # its chunks' text: the passage the card shows

    @property
    def label(self) -> str:
        return self.heading or NO_HEADING


def note_sections(chunks: Iterable[Chunk]) -> dict[str, list[Section]]:
    """Each note's sections in note order, from the index's chunks (an image's text is
    not a section of its own)."""
    grouped: dict[tuple[str, str], list[Chunk]] = {}
    for chunk in sorted(chunks, key=lambda c: (c.source, c.start)):
        if not chunk.image:
            grouped.setdefault((chunk.source, chunk.heading), []).append(chunk)
    sections: dict[str, list[Section]] = {}
    for (source, heading), parts in grouped.items():
        sections.setdefault(source, []).append(
            Section(
                source,
                heading,
                parts[0].id,
                parts[0].start,
                max(part.end for part in parts),
                "\n\n".join(part.text for part in parts),
            )
        )
    for found in sections.values():
        found.sort(key=lambda section: section.start)
    return dict(sorted(sections.items()))


def find_section(
    sections: Mapping[str, list[Section]], source: str | None, label: str | None
) -> Section:
    """The section of note ``source`` whose label is ``label``."""
    if not source:
        raise BrowseError("Elige la nota de la tarjeta nueva")
    if source not in sections:
        raise BrowseError(f"No hay ninguna nota {source!r} en el índice de tus notas")
    labels = [section.label for section in sections[source]]
    if label not in labels:
        shown = "; ".join(labels[:12]) + ("; …" if len(labels) > 12 else "")
        raise BrowseError(f"Elige una sección de {source} para la tarjeta nueva: {shown}")
    return sections[source][labels.index(label)]


def clean_text(front: str | None, back: str | None) -> tuple[str, str]:
    """A card's two sides, trimmed; both must say something."""
    front, back = (front or "").strip(), (back or "").strip()
    if not front or not back:
        raise BrowseError("Una tarjeta necesita frente y reverso: escribe los dos")
    return front, back


def manual_card(section: Section, front: str, back: str, now: datetime | None = None) -> Card:
    """A question card written by hand for ``section``: its passage is the section, and
    its id hashes what was written and when (two cards with the same text stay two)."""
    front, back = clean_text(front, back)
    written = as_utc(now or utc_now()).isoformat(timespec="microseconds")
    return Card(
        id=content_hash("manual", section.source, section.heading, front, back, written),
        kind="qa",
        front=front,
        back=back,
        source=section.source,
        heading=section.heading,
        chunk_id=section.chunk_id,
        start=section.start,
        end=max(section.end, section.start + 1),
        full_back=section.text,
    )
