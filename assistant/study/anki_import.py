"""Reviews made in Anki or AnkiDroid back into the deck: ``cards import --anki FILE``.

The file is an ``.apkg`` exported from Anki with "Include scheduling information", or a
``.colpkg`` (a whole collection, always with its schedule). Inside, the collection is
``collection.anki21b`` (Anki 2.1.50 on: SQLite compressed with zstd, read with
``zstandard``), ``collection.anki21`` or ``collection.anki2`` (the legacy formats); the
newest present is read, as a newer package also holds a stub ``collection.anki2`` that
only says to update Anki.

Each note is matched to a deck card by its ``Id`` field (export.py writes it), else by
its guid (the card id too, and the only key of packages exported before the field). Only
a note's first card (template 0, the one the export makes) is read. Notes of the
assistant's note type with no card in the deck are counted, never created; notes of
other types are counted apart. Every revlog row of a matched card that is a review (ease
1-4 in learning, review or relearning; anki_format.rating_of) goes to Deck.merge_reviews,
which adds those the log lacks and replays each touched card's whole history with FSRS,
all in one transaction: importing the same file twice adds nothing the second time.

A card suspended in Anki (``cards.queue`` -1) comes back suspended, and one put back in
study there comes back active, when Anki changed the card after the deck's last suspend or
resume of it (merge.py says the rule and its limit); same transaction. Anything else Anki
does to a card beyond reviews (forget, reschedule by hand, bury) does not travel: the
deck's schedule is what its reviews imply.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sqlite3
import tempfile
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.study import anki_format
from assistant.study.export import ANKI_MODEL_ID, ANKI_MODEL_NAME
from assistant.study.merge import PastReview, Suspension
from corpus.errors import AssistantError

if TYPE_CHECKING:
    from assistant.study.deck import Deck

SUFFIXES = (".apkg", ".colpkg")
# Newest first: a package holds the newest format it was exported in, plus stubs.
COLLECTIONS = ("collection.anki21b", "collection.anki21", "collection.anki2")
_TAG = re.compile(r"<[^>]*>")


class AnkiImportError(AssistantError):
    """The file is not an Anki package this import can read."""


@dataclass(frozen=True)
class AnkiNote:
    """A note of the package: the deck card id it names, whether it is of the assistant's
    note type, and the reviews and suspension of its first card."""

    card_id: str
    ours: bool
    reviews: tuple[PastReview, ...]
    skipped: int  # revlog rows that are not reviews (manual reschedules, previews)
    suspension: Suspension | None = None  # None: the note has no first card


@dataclass(frozen=True)
class ImportReport:
    """What an import did. ``unknown``: the assistant's notes with no card in the deck;
    ``other_notes``: notes of other note types (a .colpkg holds the whole collection)."""

    file: str
    matched: int
    unknown: int
    other_notes: int
    reviews: int  # reviews of the matched cards in the file
    added: int
    duplicates: int
    cards: int  # cards whose state was replayed
    skipped: int
    suspended: int = 0  # cards suspended, as they are in Anki
    resumed: int = 0  # cards put back in study, as they are in Anki

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "matched": self.matched,
            "unknown": self.unknown,
            "other_notes": self.other_notes,
            "reviews": self.reviews,
            "added": self.added,
            "duplicates": self.duplicates,
            "cards": self.cards,
            "skipped": self.skipped,
            "suspended": self.suspended,
            "resumed": self.resumed,
        }

    def summary(self) -> str:
        """One Spanish line for the terminal (and the app, when it gets an import)."""
        line = (
            f"Importados {self.added} repasos nuevos de {self.file} en {self.cards} tarjetas "
            f"({self.duplicates} ya estaban en el mazo; {self.matched} tarjetas del mazo "
            "encontradas"
        )
        if self.unknown:
            line += f"; {self.unknown} notas sin tarjeta en el mazo, no creadas"
        if self.other_notes:
            line += f"; {self.other_notes} notas de otros tipos, ignoradas"
        line += ")"
        changed = [
            f"{count} {word if count == 1 else word + 's'}"
            for count, word in ((self.suspended, "suspendida"), (self.resumed, "reanudada"))
            if count
        ]
        if changed:
            line += "; como en Anki: " + " y ".join(changed)
        if self.matched and not self.reviews:
            line += (
                ". El paquete no trae repasos: expórtalo desde Anki marcando «Include "
                "scheduling information» (incluir la programación)"
            )
        return line


def check_package(path: str | Path) -> Path:
    """``path`` must be an existing .apkg or .colpkg file."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise AnkiImportError(
            f"{path} no es un paquete de Anki: indica un archivo .apkg o .colpkg exportado "
            "desde Anki"
        )
    if not path.is_file():
        raise AnkiImportError(f"No existe el paquete de Anki {path}")
    return path


def _extract(archive: zipfile.ZipFile, name: str, target: Path, package: Path) -> None:
    """The collection ``name`` of ``archive`` as a plain SQLite file at ``target``."""
    with archive.open(name) as source, open(target, "wb") as sink:
        if not name.endswith("b"):
            shutil.copyfileobj(source, sink)
            return
        try:
            import zstandard
        except ImportError:
            raise AnkiImportError(
                f"{package} usa el formato nuevo de Anki (collection.anki21b) y falta el "
                "paquete zstandard: instálalo, o exporta desde Anki marcando «Support older "
                "Anki versions» (compatibilidad con versiones antiguas)"
            ) from None
        try:
            zstandard.ZstdDecompressor().copy_stream(source, sink)
        except zstandard.ZstdError as err:
            raise AnkiImportError(
                f"{package} está dañado ({err}): expórtalo de nuevo desde Anki"
            ) from None


def _unicase(left: str, right: str) -> int:
    """Anki's ``unicase`` collation (names of note types, fields, decks), for SQLite."""
    left, right = left.casefold(), right.casefold()
    return (left > right) - (left < right)


def _note_types(connection: sqlite3.Connection, tables: set[str]) -> dict[int, tuple]:
    """{note type id: (name, field names in order)}: in tables since Anki 2.1.28's
    schema 18, in ``col.models`` (JSON) before."""
    if "notetypes" in tables:
        fields: dict[int, list[str]] = defaultdict(list)
        for ntid, name in connection.execute("SELECT ntid, name FROM fields ORDER BY ntid, ord"):
            fields[ntid].append(name)
        rows = connection.execute("SELECT id, name FROM notetypes")
        return {ntid: (name, fields[ntid]) for ntid, name in rows}
    (models,) = connection.execute("SELECT models FROM col").fetchone()
    return {
        int(mid): (
            model.get("name", ""),
            [field["name"] for field in sorted(model["flds"], key=lambda f: f["ord"])],
        )
        for mid, model in json.loads(models or "{}").items()
    }


def _field_text(value: str) -> str:
    """A field's plain text: an id a student's Anki may have wrapped in HTML."""
    return html.unescape(_TAG.sub("", value)).strip()


def _read_notes(connection: sqlite3.Connection) -> list[AnkiNote]:
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    if not {"col", "notes", "cards", "revlog"} <= tables:
        raise sqlite3.DatabaseError("no notes, cards or revlog table")
    types = _note_types(connection, tables)
    first_card: dict[int, int] = {}
    queue_and_mod: dict[int, tuple[int, int]] = {}
    for cid, nid, queue, mod in connection.execute(
        "SELECT id, nid, queue, mod FROM cards WHERE ord = 0"
    ):
        first_card[cid] = nid
        queue_and_mod[nid] = (queue, mod)
    reviews: dict[int, list[PastReview]] = defaultdict(list)
    skipped: dict[int, int] = defaultdict(int)
    notes = {}
    for nid, guid, mid, fields in connection.execute("SELECT id, guid, mid, flds FROM notes"):
        name, names = types.get(mid, ("", []))
        ours = mid == ANKI_MODEL_ID or name.startswith(ANKI_MODEL_NAME)
        values = fields.split("\x1f")
        card_id = guid
        if ours and anki_format.ID_FIELD in names:
            at = names.index(anki_format.ID_FIELD)
            card_id = _field_text(values[at]) if at < len(values) else ""
            card_id = card_id or guid
        notes[nid] = (card_id, ours)
    revlog = connection.execute("SELECT id, cid, ease, time, type FROM revlog ORDER BY id")
    for revlog_id, cid, ease, taken_ms, kind in revlog:
        nid = first_card.get(cid)
        if nid is None or nid not in notes:
            continue
        rating = anki_format.rating_of(ease, kind)
        if rating is None:
            skipped[nid] += 1
            continue
        reviews[nid].append(
            PastReview(
                card_id=notes[nid][0],
                rating=rating,
                reviewed=anki_format.from_millis(revlog_id),
                duration_ms=max(0, taken_ms) if taken_ms is not None else None,
            )
        )
    return [
        AnkiNote(
            card_id,
            ours,
            tuple(reviews[nid]),
            skipped[nid],
            _suspension(card_id, *queue_and_mod[nid]) if nid in queue_and_mod else None,
        )
        for nid, (card_id, ours) in notes.items()
    ]


def _suspension(card_id: str, queue: int, mod: int) -> Suspension:
    """The first card's suspension in Anki, dated by its last change (mod, epoch seconds)."""
    return Suspension(
        card_id, queue == anki_format.QUEUE_SUSPENDED, datetime.fromtimestamp(mod, UTC)
    )


def read_package(path: str | Path) -> list[AnkiNote]:
    """The notes of an Anki package with the reviews of their first card."""
    path = check_package(path)
    with tempfile.TemporaryDirectory(prefix="anki-import-") as folder:
        collection = Path(folder) / "collection.sqlite"
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                name = next((n for n in COLLECTIONS if n in names), None)
                if name is None:
                    raise AnkiImportError(
                        f"{path} no contiene una colección de Anki (collection.anki2, "
                        ".anki21 ni .anki21b): expórtalo de nuevo desde Anki"
                    )
                _extract(archive, name, collection, path)
        except (zipfile.BadZipFile, zlib.error, OSError) as err:
            raise AnkiImportError(
                f"{path} no es un paquete de Anki legible ({err}): expórtalo de nuevo desde "
                "Anki como .apkg o .colpkg"
            ) from None
        # immutable: a private copy, read without locks or a journal
        connection = sqlite3.connect(f"file:{collection}?mode=ro&immutable=1", uri=True)
        try:
            connection.create_collation("unicase", _unicase)
            return _read_notes(connection)
        except (sqlite3.DatabaseError, KeyError, ValueError) as err:
            raise AnkiImportError(
                f"{path} no contiene una colección de Anki legible ({err}): expórtalo de "
                "nuevo desde Anki"
            ) from None
        finally:
            connection.close()


def import_anki(deck: Deck, path: str | Path) -> ImportReport:
    """Merge the reviews and suspensions of ``path`` into ``deck`` (read whole first,
    then one transaction after refreshing the deck's backup)."""
    path = check_package(path)
    notes = read_package(path)
    known = {row.card.id for row in deck.cards(include_retired=True)}
    matched = [note for note in notes if note.card_id in known]
    reviews = [review for note in matched for review in note.reviews]
    suspensions = [note.suspension for note in matched if note.suspension is not None]
    deck.backup()
    merged = deck.merge_reviews(reviews, suspensions)
    return ImportReport(
        file=path.name,
        matched=len({note.card_id for note in matched}),
        unknown=sum(note.ours and note.card_id not in known for note in notes),
        other_notes=sum(not note.ours and note.card_id not in known for note in notes),
        reviews=len(reviews),
        added=merged.added,
        duplicates=merged.duplicates,
        cards=merged.cards,
        skipped=sum(note.skipped for note in matched),
        suspended=merged.suspended,
        resumed=merged.resumed,
    )
