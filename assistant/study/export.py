r"""The deck's cards out to Anki: an ``.apkg`` package (genanki) or a CSV for Anki's text
import. Both are written whole or not at all (temp file, then rename) and never over an
input (the deck file, a note).

Re-importing updates instead of duplicating: the note type and the deck have fixed ids,
and each Anki note's guid is the card id (CSV: the ``#guid column`` header). A card
whose text was edited gets a new id (cards.py), so Anki adds it as a new note and keeps
the old one: delete that by hand.

The package carries the schedule (issue 28): each reviewed card's type, queue, due date,
interval, reps, lapses and FSRS memory (``cards.data``), and one ``revlog`` row per review
in the deck's log (anki_format.py says how each column is filled). Anki keeps it when the
package is imported with "Import any learning progress" ticked, and with FSRS on goes on
from that memory state. Anki takes a card's schedule and history only when it adds the
card: for a note it already has, it updates the text and keeps its own schedule (reviews
made there come back with ``cards import --anki``, anki_import.py).

A suspended card goes suspended (``cards.queue`` -1, its type, due date and interval
kept, as Anki suspends), so that it stays out of study there too; the import brings a
suspension or its end made in Anki back (merge.py). Deleted cards and cards whose section
left the notes are not exported.

The note type has a fifth field, ``Id``, holding the card id (the import matches notes by
it; the guid is the fallback). The note type keeps its id, but Anki compares note types by
their fields: a student who imported an earlier four-field package gets, on the next
import, the new cards under a second copy of the note type ("… (tarjeta)+"), while the
notes Anki already has keep four fields and are not updated ("conflicting" in its import
log) unless "Merge note types" is ticked, which gives them the field, empty (checked with
the ``anki`` 26.9 package). Their reviews are kept either way, and the import back finds
them by guid.

A card's formulas (``$…$``, ``$$…$$``) are written as ``\(…\)`` and ``\[…\]``, the
delimiters Anki's MathJax typesets. They are found by mdit-py-plugins' dollarmath with the
rules the app's renderer uses (``corpus.markdown.MATH_RULES``): "cuesta 5 $" stays text.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
import sqlite3
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from assistant.study import anki_format
from assistant.study.cards import Card
from assistant.study.records import DeckCard, ReviewRecord
from assistant.study.schedule import ReviewState, ScheduleConfig
from corpus.errors import AssistantError
from corpus.files import atomic_write_bytes
from corpus.markdown import MATH_RULES

if TYPE_CHECKING:
    from assistant.study.deck import Deck

# Fixed, random once (genanki's advice: random.randrange(1 << 30, 1 << 31)). Anki matches
# a re-imported note type and deck by these ids: never change them.
ANKI_MODEL_ID = 1_724_093_517
ANKI_DECK_ID = 1_453_887_266
ANKI_MODEL_NAME = "Asistente de estudio (tarjeta)"
DEFAULT_DECK_NAME = "Asistente de estudio"
TAG_PREFIX = "asistente"

CSV_COLUMNS = ("Front", "Back", "Source", "Tags", "GUID")
CSV_HEADER = (
    "#separator:Comma\n"
    "#html:false\n"
    f"#columns:{','.join(CSV_COLUMNS)}\n"
    f"#tags column:{CSV_COLUMNS.index('Tags') + 1}\n"
    f"#guid column:{CSV_COLUMNS.index('GUID') + 1}\n"
)

_CSS = """.card { font-family: sans-serif; font-size: 20px; text-align: left; }
.source { color: #666; font-size: 14px; margin-top: 1em; }
.passage { font-size: 16px; white-space: normal; }"""


class ExportError(AssistantError):
    """The export target is not usable (wrong extension, an input file, a folder)."""


def check_output(out: Path, suffix: str, inputs: Iterable[Path] = ()) -> Path:
    """``out`` must end in ``suffix``, not be a folder and not be (or lie inside) an input."""
    out = Path(out).expanduser()
    if out.suffix.lower() != suffix:
        raise ExportError(f"El archivo de exportación {out} debe terminar en {suffix}")
    if out.is_dir():
        raise ExportError(f"{out} es una carpeta; indica un archivo {suffix}")
    target = out.resolve()
    for given in inputs:
        source = Path(given).expanduser().resolve()
        if target == source or source in target.parents:
            raise ExportError(
                f"No se exporta sobre una entrada ({source}): elige otro archivo de salida"
            )
    return out


def _tags(card: Card) -> list[str]:
    """Anki tags (no spaces): the kind and the note, e.g. asistente::qa."""
    note = card.source.rsplit(".", 1)[0].replace(" ", "_")
    return [f"{TAG_PREFIX}::{card.kind}", f"{TAG_PREFIX}::nota::{note}"]


# The inline rules only: a card's text is not Markdown, only its formulas are read.
_MATH = MarkdownIt("zero").use(dollarmath_plugin, **MATH_RULES)
_ANKI_DELIMITERS = {"math_inline": ("\\(", "\\)"), "math_inline_double": ("\\[", "\\]")}


def _pieces(text: str) -> list[tuple[str, bool]]:
    """``text`` as (piece, is_formula) pairs, each formula already in Anki's delimiters."""
    if "$" not in text:
        return [(text, False)]
    (inline,) = _MATH.parseInline(text)
    pieces = []
    for token in inline.children or []:
        if token.type in _ANKI_DELIMITERS:
            left, right = _ANKI_DELIMITERS[token.type]
            pieces.append((f"{left}{token.content.strip()}{right}", True))
        else:
            pieces.append((token.content, False))
    return pieces


def anki_text(text: str) -> str:
    """``text`` with its formulas in Anki's delimiters: "$x^2$" -> "\\(x^2\\)"."""
    return "".join(piece for piece, _ in _pieces(text))


def _html(text: str) -> str:
    """An Anki field: ``text`` escaped, its line breaks <br> (none inside a formula, where
    MathJax would read the tag), its formulas in Anki's delimiters."""
    return "".join(
        html.escape(piece.replace("\n", " ") if formula else piece).replace("\n", "<br>")
        for piece, formula in _pieces(text)
    )


def _source(card: Card) -> str:
    return f"{card.source} — {card.heading}" if card.heading else card.source


def anki_model():
    import genanki

    return genanki.Model(
        ANKI_MODEL_ID,
        ANKI_MODEL_NAME,
        # Id last: Front stays the sort field, and the templates never show it.
        fields=[
            {"name": "Front"},
            {"name": "Back"},
            {"name": "Source"},
            {"name": "Passage"},
            {"name": anki_format.ID_FIELD},
        ],
        templates=[
            {
                "name": "Tarjeta",
                "qfmt": "{{Front}}",
                "afmt": (
                    '{{FrontSide}}<hr id="answer">{{Back}}'
                    '<div class="source">{{Source}}</div>'
                    '<details class="passage"><summary>Pasaje</summary>{{Passage}}</details>'
                ),
            }
        ],
        css=_CSS,
    )


def write_anki(
    cards: Sequence[Card | DeckCard],
    out: Path,
    deck_name: str = DEFAULT_DECK_NAME,
    inputs: Iterable[Path] = (),
    reviews: Iterable[ReviewRecord] = (),
    config: ScheduleConfig | None = None,
) -> int:
    """Write ``cards`` as an Anki package; returns the number of notes written.

    Deck cards (``Deck.cards()``) go with their schedule and ``reviews`` (``Deck.reviews()``,
    scheduled with ``config``); plain cards go as new cards."""
    import genanki

    out = check_output(out, ".apkg", inputs)
    model = anki_model()
    deck = genanki.Deck(ANKI_DECK_ID, deck_name)
    states: dict[str, ReviewState] = {}
    suspended: set[str] = set()
    for item in cards:
        card = item.card if isinstance(item, DeckCard) else item
        note = genanki.Note(
            model=model,
            fields=[
                _html(card.front),
                _html(card.back),
                _html(_source(card)),
                _html(card.full_back or card.back),
                card.id,
            ],
            guid=card.id,
            tags=_tags(card),
        )
        if isinstance(item, DeckCard):
            states[card.id] = item.state
            if item.suspended is not None:
                suspended.add(card.id)
                for anki_card in note.cards:
                    anki_card.suspend = True  # genanki writes it with queue -1
        deck.add_note(note)
    package = genanki.Package(deck)
    # Package.write_to_file leaves its collection in the system temp folder; this is its
    # body with the collection in a folder that is removed, zipped in memory, then
    # written atomically.
    with tempfile.TemporaryDirectory(prefix="apkg-") as folder:
        collection = Path(folder) / "collection.anki2"
        connection = sqlite3.connect(collection)
        timestamp = time.time()
        ids = itertools.count(int(timestamp * 1000))  # genanki's own note/card ids
        package.write_to_db(connection.cursor(), timestamp, ids)
        if states:
            _write_schedule(connection, states, reviews, config or ScheduleConfig(), suspended)
        connection.commit()
        connection.close()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(collection, "collection.anki2")
            archive.writestr("media", "{}")
    atomic_write_bytes(out, buffer.getvalue())
    return len(cards)


def _write_schedule(
    connection: sqlite3.Connection,
    states: dict[str, ReviewState],
    reviews: Iterable[ReviewRecord],
    config: ScheduleConfig,
    suspended: set[str],
) -> None:
    """Set each card's Anki scheduling columns and add its reviews to ``revlog``; a card
    in ``suspended`` keeps its type, due date and interval with queue -1."""
    (crt,) = connection.execute("SELECT crt FROM col").fetchone()
    anki_ids = dict(
        connection.execute("SELECT n.guid, c.id FROM notes n JOIN cards c ON c.nid = n.id")
    )
    history: dict[str, list[ReviewRecord]] = defaultdict(list)
    for review in reviews:
        if review.card_id in states:
            history[review.card_id].append(review)
    taken: set[int] = set()
    for card_id, state in states.items():
        logged = sorted(history.get(card_id, ()), key=lambda review: review.reviewed)
        columns = anki_format.scheduling(state, logged, config, crt)
        if columns is not None:
            connection.execute(
                "UPDATE cards SET type = ?, queue = ?, due = ?, ivl = ?, factor = ?, reps = ?, "
                "lapses = ?, left = ?, data = ? WHERE id = ?",
                (
                    columns.type,
                    anki_format.QUEUE_SUSPENDED if card_id in suspended else columns.queue,
                    columns.due,
                    columns.ivl,
                    columns.factor,
                    columns.reps,
                    columns.lapses,
                    columns.left,
                    columns.data,
                    anki_ids[card_id],
                ),
            )
        connection.executemany(
            "INSERT INTO revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            anki_format.revlog_rows(anki_ids[card_id], logged, taken),
        )


def export_deck(
    deck: Deck, out: Path, deck_name: str = DEFAULT_DECK_NAME, inputs: Iterable[Path] = ()
) -> int:
    """The deck's cards in study and its suspended ones (suspended there too) as an Anki
    package with their schedule and history."""
    cards = [
        row
        for row in deck.cards(include_retired=True)
        if row.retired is None or (row.status == "suspended" and row.gone is None)
    ]
    return write_anki(cards, out, deck_name, inputs, deck.reviews(), deck.config)


# A cell a spreadsheet would run as a formula ("=HYPERLINK(...)", "+1", "@SUM", "-2+3"):
# prefixed with an apostrophe (OWASP's advice for CSV injection). A list item ("- Ventaja")
# is text to every spreadsheet and stays as it is.
_FORMULA = re.compile(r"^(?:[=+@\t\r]|-(?! ))")


def _cell(text: str) -> str:
    return "'" + text if _FORMULA.match(text) else text


def write_csv(cards: list[Card], out: Path, inputs: Iterable[Path] = ()) -> int:
    """Write ``cards`` as CSV with Anki's import headers; returns the rows written."""
    out = check_output(out, ".csv", inputs)
    buffer = io.StringIO()
    buffer.write(CSV_HEADER)
    writer = csv.writer(buffer, lineterminator="\n")
    for card in cards:
        row = [anki_text(card.front), anki_text(card.back), _source(card)]
        row += [" ".join(_tags(card)), card.id]
        writer.writerow([_cell(cell) for cell in row])
    atomic_write_bytes(out, buffer.getvalue().encode("utf-8"))
    return len(cards)
