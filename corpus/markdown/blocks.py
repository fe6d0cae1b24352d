"""A note's sections, its callouts, and a section's blocks (prose, items, code, tables,
math), each with its offsets in the note."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from corpus.errors import SettingsError
from corpus.markdown.syntax import FENCE, HEADING, LIST_ITEM, read_front_matter
from corpus.text import strip_markup

BlockKind = Literal["prose", "item", "code", "table", "math"]
BLOCK_KINDS: tuple[str, ...] = ("prose", "item", "code", "table", "math")


# -- sections ------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    start: int
    end: int
    path: tuple[str, ...]  # heading texts from the top level down to this section


def clean_heading(raw: str) -> str:
    return strip_markup(raw).strip()


def find_sections(text: str) -> list[Section]:
    """Split ``text`` at ATX headings that are not inside code fences.

    Sections are contiguous and cover the whole text but its front matter (kept out of
    chunks and cards: ``read_front_matter``); the part before the first heading (if any)
    is a section with an empty path.
    """
    body = read_front_matter(text).end
    starts: list[tuple[int, int, str]] = []  # (offset, level, heading)
    offset, in_fence = body, False
    for line in text[body:].splitlines(keepends=True):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := HEADING.match(line.rstrip("\r\n"))):
            starts.append((offset, len(match.group(1)), clean_heading(match.group(2))))
        offset += len(line)

    sections: list[Section] = []
    if not starts or starts[0][0] > body:
        first_end = starts[0][0] if starts else len(text)
        sections.append(Section(body, first_end, ()))
    stack: list[tuple[int, str]] = []  # (level, heading) of the open headings
    for i, (start, level, heading) in enumerate(starts):
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        sections.append(Section(start, end, tuple(h for _, h in stack)))
    return sections


# -- callouts ------------------------------------------------------------------------

# "> [!note] Título" (Obsidian's callout; "+" or "-" makes it foldable) opens a callout,
# and every following line that starts with ">" belongs to it.
CALLOUT = re.compile(r"^[ \t]*>[ \t]*\[!(?P<kind>[\w-]+)\][+-]?[ \t]*(?P<title>.*)$")


@dataclass(frozen=True)
class Callout:
    start: int  # offsets in the note: the callout's lines, their last newline excluded
    end: int
    kind: str  # note, tip, warning, …
    title: str  # as written after the marker ("" when none)


def find_callouts(text: str, start: int = 0, end: int | None = None) -> list[Callout]:
    """The callouts of ``text[start:end]`` that are not inside a code fence."""
    end = len(text) if end is None else end
    found: list[Callout] = []
    opened: tuple[int, int, str, str] | None = None  # (start, end, kind, title)
    offset, in_fence = start, False
    for line in text[start:end].splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if opened is not None and not in_fence and body.lstrip().startswith(">"):
            opened = (opened[0], offset + len(body), opened[2], opened[3])
        else:
            if opened is not None:
                found.append(Callout(*opened))
                opened = None
            if FENCE.match(line):
                in_fence = not in_fence
            elif not in_fence and (match := CALLOUT.match(body)):
                opened = (offset, offset + len(body), match["kind"].lower(), match["title"].strip())
        offset += len(line)
    if opened is not None:
        found.append(Callout(*opened))
    return found


# -- blocks --------------------------------------------------------------------------


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


def item_body(block: Block) -> str:
    """An item's text after its marker, raw (emphasis kept, for label detection)."""
    match = LIST_ITEM.match(block.text)
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
    open_kind: BlockKind | None = None  # the block being extended: prose, item or table
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

    def begin(kind: BlockKind, start: int, end: int, indent: int = 0) -> None:
        nonlocal open_kind, open_start, open_end, open_indent
        close()
        open_kind, open_start, open_end, open_indent = kind, start, end, indent

    for start, end in lines:
        line = text[start:end]
        stripped = line.strip()
        if fence_start is not None:  # inside a code fence: only its closing line matters
            if FENCE.match(line):
                blocks.append(Block("code", fence_start, end, text[fence_start:end]))
                fence_start = None
            continue
        if math_start is not None:
            if stripped.endswith("$$"):
                blocks.append(Block("math", math_start, end, text[math_start:end]))
                math_start = None
            continue
        if FENCE.match(line):
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
        elif match := LIST_ITEM.match(line):
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
