"""A note section read as Markdown blocks with exact offsets: paragraphs, list items, code,
tables and display math.

What the card extractors walk. Every block's text is ``note.text[start:end]``, so a card
can name the exact span it came from; the ``plain`` helpers give what a card shows.

Known limits: only the Markdown the notes use is recognised (ATX headings, ``-``/``*``/``+``
and ``1.``/``1)`` items, fenced code, ``|`` tables, ``$$`` math); an indented line right
after an item continues it, as in CommonMark, but lazy continuations are not followed
across blank lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from corpus.chunking import Section
from corpus.errors import SettingsError
from corpus.text import sentence_spans, strip_markup

BlockKind = Literal["prose", "item", "code", "table", "math"]
BLOCK_KINDS: tuple[str, ...] = ("prose", "item", "code", "table", "math")

_ITEM = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-*+]|\d+[.)])[ \t]+")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Block:
    """One block of a section; ``text == note_text[start:end]`` (no trailing newline)."""

    kind: BlockKind
    start: int
    end: int
    text: str
    indent: int = 0  # items: columns before the marker (nesting)

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise SettingsError(f"kind must be one of {BLOCK_KINDS}, got {self.kind!r}")
        if not 0 <= self.start <= self.end:
            raise SettingsError(f"need 0 <= start <= end, got start={self.start}, end={self.end}")
        if len(self.text) != self.end - self.start:
            raise SettingsError(
                f"text has {len(self.text)} characters but the span "
                f"({self.start}, {self.end}) has {self.end - self.start}"
            )


@dataclass(frozen=True)
class Sentence:
    """A sentence of a prose block: its exact span in the note and its plain text."""

    start: int
    end: int
    raw: str  # == note_text[start:end], Markdown emphasis included
    plain: str


def plain(markdown: str) -> str:
    """Emphasis marks dropped and whitespace collapsed: what a card face shows."""
    return _SPACE.sub(" ", strip_markup(markdown)).strip()


def item_body(block: Block) -> str:
    """An item's text after its marker, raw (emphasis kept, for label detection)."""
    match = _ITEM.match(block.text)
    return block.text[match.end() :] if match else block.text


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each line in text[start:end], newline excluded."""
    spans, offset = [], start
    for line in text[start:end].splitlines(keepends=True):
        stripped = len(line.rstrip("\r\n"))
        spans.append((offset, offset + stripped))
        offset += len(line)
    return spans


def read_blocks(text: str, section: Section) -> list[Block]:
    """The blocks of one section's body (its heading line is skipped)."""
    lines = _lines(text, section.start, section.end)
    if section.path and lines:
        lines = lines[1:]  # the heading line
    blocks: list[Block] = []
    open_kind: str | None = None  # the block being extended: prose, item or table
    open_start = open_end = open_indent = 0
    fence_start: int | None = None
    math_start: int | None = None

    def close() -> None:
        nonlocal open_kind
        if open_kind is not None:
            blocks.append(
                Block(open_kind, open_start, open_end, text[open_start:open_end], open_indent)
            )
        open_kind = None

    def begin(kind: str, start: int, end: int, indent: int = 0) -> None:
        nonlocal open_kind, open_start, open_end, open_indent
        close()
        open_kind, open_start, open_end, open_indent = kind, start, end, indent

    for start, end in lines:
        line = text[start:end]
        stripped = line.strip()
        if fence_start is not None:  # inside a code fence: only its closing line matters
            if _FENCE.match(line):
                blocks.append(Block("code", fence_start, end, text[fence_start:end]))
                fence_start = None
            continue
        if math_start is not None:
            if stripped.endswith("$$"):
                blocks.append(Block("math", math_start, end, text[math_start:end]))
                math_start = None
            continue
        if _FENCE.match(line):
            close()
            fence_start = start
        elif stripped.startswith("$$"):
            close()
            if len(stripped) > 2 and stripped.endswith("$$"):
                blocks.append(Block("math", start, end, line))
            else:
                math_start = start
        elif not stripped:
            close()
        elif stripped.startswith("|"):
            if open_kind == "table":
                open_end = end
            else:
                begin("table", start, end)
        elif match := _ITEM.match(line):
            begin("item", start, end, len(match.group("indent").expandtabs(4)))
        elif open_kind in ("prose", "item"):
            open_end = end  # a continuation line
        else:
            begin("prose", start, end)
    close()
    if fence_start is not None:  # an unclosed fence runs to the end of the section
        end = lines[-1][1]
        blocks.append(Block("code", fence_start, end, text[fence_start:end]))
    return blocks


def prose_sentences(block: Block) -> list[Sentence]:
    """The sentences of a prose block (pysbd's Spanish rules), spans trimmed of spaces."""
    found = []
    for start, end in sentence_spans(block.text):
        raw = block.text[start:end]
        lead = len(raw) - len(raw.lstrip())
        raw = raw.strip()
        if raw:
            begin = block.start + start + lead
            found.append(Sentence(begin, begin + len(raw), raw, plain(raw)))
    return found


def render_lines(blocks: list[Block]) -> list[tuple[Block, str]]:
    """Each block as plain text: a paragraph, an item as "- text" or "1. text" (nested
    ones indented two spaces a level), code and math as written."""
    lines: list[tuple[Block, str]] = []
    indents: list[int] = []  # indentation of the open list levels
    for block in blocks:
        if block.kind == "item":
            while indents and indents[-1] > block.indent:
                indents.pop()
            if not indents or indents[-1] < block.indent:
                indents.append(block.indent)
            marker = _ITEM.match(block.text).group("marker")
            bullet = f"{marker[:-1]}." if marker[0].isdigit() else "-"
            line = "  " * (len(indents) - 1) + f"{bullet} {plain(item_body(block))}"
            lines.append((block, line))
            continue
        indents.clear()
        if block.kind == "prose":
            lines.append((block, plain(block.text)))
        elif block.kind == "code":
            body = block.text.splitlines()[1:]
            if body and _FENCE.match(body[-1]):
                body = body[:-1]
            lines.append((block, "\n".join(body).strip("\n")))
        else:
            lines.append((block, block.text.strip()))
    return [(block, line) for block, line in lines if line]


def render(blocks: list[Block]) -> str:
    """The blocks as plain text, one line each (render_lines): a card's ``full_back``."""
    return "\n".join(line for _, line in render_lines(blocks))
