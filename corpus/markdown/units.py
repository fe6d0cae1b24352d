"""A passage's units (what one answer sentence can restate) and its prose sentences,
each with its offsets in the passage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from corpus.errors import SettingsError
from corpus.markdown.syntax import (
    LIST_MARKER,
    NOT_PROSE_STARTS,
    TABLE_RULE,
    is_fence,
    math_pieces,
)
from corpus.text import WORD, sentences


@lru_cache(maxsize=1024)
def prose_spans(passage: str) -> tuple[tuple[int, int], ...]:
    """(start, end) offsets of the passage's sentences (pysbd, one Markdown line at a time,
    so list items and table rows stay apart), headings and fences left out."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in passage.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not stripped.startswith(NOT_PROSE_STARTS):
            cursor = 0
            for piece in sentences(line):
                piece = piece.strip()
                found = line.find(piece, cursor) if piece else -1
                if found < 0:  # pysbd never rewrites text with clean=False; be safe anyway
                    continue
                spans.append((offset + found, offset + found + len(piece)))
                cursor = found + len(piece)
        offset += len(line)
    return tuple(spans)


# -- units ---------------------------------------------------------------------------

UnitKind = Literal["sentence", "item", "cell", "code"]
UNIT_KINDS: tuple[str, ...] = ("sentence", "item", "cell", "code")
HEADING_MARKS = re.compile(r"^#{1,6}\s+(?:\d+\.\s*)?")  # "## 3. " before a heading's text
_EMPHASIS_MARKS = "*_`"


@dataclass(frozen=True)
class Unit:
    """What one answer sentence could restate, read from ``passage[start:end]``.

    ``text`` is the unit's ``label`` and its own words joined by a space, or its words
    alone: "Desventajas: Exposición al sesgo", "Paralelización — Transformer: Alta".
    ``start:end`` spans its own words only (a sentence, a list item's sentence, a table
    cell, a code line); the label was read from an earlier line or the table's header.
    """

    text: str
    start: int
    end: int
    kind: UnitKind
    label: str = ""  # "Ventajas:" (the line it hangs from), "row — column:" (a cell's)

    def __post_init__(self) -> None:
        if self.kind not in UNIT_KINDS:
            raise SettingsError(f"kind must be one of {UNIT_KINDS}, got {self.kind!r}")
        if not 0 <= self.start <= self.end:
            raise SettingsError(f"need 0 <= start <= end, got start={self.start}, end={self.end}")

    @property
    def body(self) -> str:
        """The unit's own words, its label left out."""
        return self.text[len(self.label) + 1 :] if self.label else self.text


def _clean(text: str, start: int, end: int) -> tuple[str, list[int]]:
    """``text[start:end]`` as a unit writes it: heading marks, emphasis and runs of spaces
    dropped, a formula ($…$, $$…$$) as written (the chat typesets it; d_k is TeX). With
    it, the offset in ``text`` of each of its characters (a collapsed run: its first)."""
    head = HEADING_MARKS.match(text[start:end])
    offset = start + (head.end() if head else 0)
    kept: list[int] = []
    for piece, formula in math_pieces(text[offset:end]):
        kept += [offset + i for i, ch in enumerate(piece) if formula or ch not in _EMPHASIS_MARKS]
        offset += len(piece)
    chars: list[str] = []
    where: list[int] = []
    space: int | None = None  # where a run of spaces inside the text began
    for at in kept:
        if text[at].isspace():  # what str.split() cuts at
            if chars and space is None:
                space = at
            continue
        if space is not None:
            chars.append(" ")
            where.append(space)
            space = None
        chars.append(text[at])
        where.append(at)
    return "".join(chars), where


def _sentence_units(clean: str, where: list[int], kind: UnitKind, label: str) -> list[Unit]:
    """The sentences of one cleaned line (``where``: their offsets) that hold a word."""
    units: list[Unit] = []
    cursor = 0
    for piece in sentences(clean):
        sentence = piece.strip()
        if not WORD.search(sentence):
            continue
        found = clean.find(sentence, cursor)
        if found < 0:  # pysbd never rewrites text with clean=False; the line, to be safe
            first, last = where[0], where[-1] + 1
        else:
            first, last = where[found], where[found + len(sentence) - 1] + 1
            cursor = found + len(sentence)
        text = f"{label} {sentence}" if label else sentence
        units.append(Unit(text, first, last, kind, label))
    return units


def read_units(passage: str) -> tuple[Unit, ...]:
    """The passage cut into units that a single answer sentence could restate, in order.

    Sentences of each line, list items prefixed with the label line they hang from, table
    cells with their row and column names, code lines as written. Headings (questions in
    these notes) and lines that are only a label ("Ventajas:") are context, not units.
    """
    units: list[Unit] = []
    labels: list[tuple[int, bool, str]] = []  # (indent, is list item, label text)
    header: list[str] = []  # the current table's header cells
    in_fence = False
    offset = 0
    for line in passage.splitlines(keepends=True):
        start, offset = offset, offset + len(line)
        raw = line.splitlines()[0]
        stripped = raw.strip()
        first = start + len(raw) - len(raw.lstrip())  # where ``stripped`` starts
        if is_fence(stripped):
            in_fence = not in_fence
            continue
        if not stripped or TABLE_RULE.match(stripped):
            continue
        if stripped.startswith("|"):
            cells: list[tuple[str, int, int]] = []  # (cleaned text, start, end)
            at = first + len(stripped) - len(stripped.lstrip("|"))
            for piece in stripped.strip("|").split("|"):
                clean, where = _clean(passage, at, at + len(piece))
                # An empty cell's span is its blanks (none between "||").
                span = (where[0], where[-1] + 1) if where else (at, at + len(piece))
                cells.append((clean, *span))
                at += len(piece) + 1
            if not header:
                header = [clean for clean, _, _ in cells]
                continue
            # One unit per cell: a row mixes pros and cons, which would blur the checks.
            for name, (clean, cell_start, cell_end) in zip(header[1:], cells[1:]):
                label = f"{cells[0][0]} — {name}:"
                units.append(Unit(f"{label} {clean}", cell_start, cell_end, "cell", label))
            continue
        header = []
        if in_fence:
            units.append(Unit(stripped, first, first + len(stripped), "code"))
            continue
        if stripped.startswith("#"):  # a heading asks a question; it states nothing
            labels.clear()
            continue
        indent = first - start
        marker = LIST_MARKER.match(stripped)
        is_item = marker is not None
        clean, where = _clean(
            passage, first + (marker.end() if marker else 0), first + len(stripped)
        )
        # A label governs deeper lines, and list items at its own depth when it is a
        # paragraph ("Ventajas de LoRA:" over "- Menor uso de memoria").
        while labels and not (
            labels[-1][0] < indent or (labels[-1][0] == indent and is_item and not labels[-1][1])
        ):
            labels.pop()
        context = labels[-1][2] if labels else ""
        if clean.endswith(":"):
            labels.append((indent, is_item, clean))
            continue
        kind: UnitKind = "item" if is_item else "sentence"
        units.extend(_sentence_units(clean, where, kind, context))
    return tuple(units)
