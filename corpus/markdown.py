"""The one Markdown reader of the project: the line grammar the notes use, a note's
sections, a section's blocks, and a passage's units (what one answer sentence can
restate), every piece with its exact offsets in the note or passage.

Hand-written, like its callers' needs: every chunk, card and highlight must map back to an
exact span of the note, and Markdown libraries (LangChain's MarkdownHeaderTextSplitter,
markdown-it's tokens) re-join lines or give line numbers, not character offsets.

Known limits: only the Markdown the notes use is recognised (ATX headings, ``-``/``*``/``+``
and ``1.``/``1)`` items, fenced code, ``|`` tables, ``$$`` math); an indented line right
after an item continues it, as in CommonMark, but lazy continuations are not followed
across blank lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from corpus.errors import SettingsError
from corpus.text import WORD, sentences, strip_markup

HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")  # an ATX heading line: (marks, text)
FENCE = re.compile(r"^\s*(```|~~~)")  # a line that opens or closes a code fence
LIST_ITEM = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>[-*+]|\d+[.)])[ \t]+")
LIST_MARKER = re.compile(r"^(?:[-*+]|\d+[.)])\s+")  # a list marker on a stripped line
TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")  # a table's header rule (or a --- rule)
# Lines that hold no sentence of their own: headings, fences, table rules, --- rules.
NOT_PROSE_STARTS = ("#", "```", "~~~", "|--", "|:-", "---")
# Obsidian's links: [[Nota]], [[Nota#Sección]], [[Nota#Sección|alias]]; with "!", an embed.
WIKILINK = re.compile(
    r"(?P<embed>!?)\[\[(?P<target>[^\[\]|#]*)(?:#(?P<section>[^\[\]|]*))?(?:\|(?P<alias>[^\[\]]*))?\]\]"
)
# An Obsidian tag typed in a question: "#nlp", "#curso/tema"; not "C#", not "#1".
TAG = re.compile(r"(?<![\w#])#(?=[\w/-]*[^\W\d_])([\w/-]+)")
_HEADING_MARK = re.compile(r"^#+[ \t]*(\d+\.[ \t]*)?", re.MULTILINE)
_EMPHASIS = re.compile(r"[*_`]+")
# How formulas are found, here and by the app's renderer (assistant/web/markdown_html.py),
# the Anki export and the support checker's units: mdit-py-plugins' dollarmath under
# Pandoc's rules for "$", so that prices stay text ("cuesta 5 $", "de $5 a $10"); no
# "$$…$$ (label)" anchors (an id taken from a note); no blank line inside "$$" (TeX allows
# none); "$$…$$" inside a sentence is displayed, as Obsidian does.
MATH_RULES = {
    "allow_labels": False,
    "allow_space": False,
    "allow_digits": False,
    "allow_blank_lines": False,
    "double_inline": True,
}
_MATH_TOKENS = ("math_inline", "math_inline_double")

BlockKind = Literal["prose", "item", "code", "table", "math"]
BLOCK_KINDS: tuple[str, ...] = ("prose", "item", "code", "table", "math")


def is_fence(line: str) -> bool:
    return bool(FENCE.match(line))


def link_text(match: re.Match) -> str:
    """What a reader sees of an Obsidian link: its alias, else "Nota > Sección", else the
    note's name; an embed (an image, another note) shows no text of its own."""
    if match.group("embed"):
        return ""
    if match.group("alias"):
        return match.group("alias").strip()
    target, section = match.group("target").strip(), (match.group("section") or "").strip()
    return f"{target} > {section}" if target and section else target or section


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


def plain_text(markdown: str) -> str:
    """Markdown without heading marks, heading numbers and emphasis, Obsidian links as
    their visible text: markup is noise to embedders (measured: +1 point recall@5 for e5
    on the dev set)."""
    return _EMPHASIS.sub("", _HEADING_MARK.sub("", WIKILINK.sub(link_text, markdown)))


@lru_cache(maxsize=1)
def _math_parser():
    """Inline rules only: the text is read for its formulas, nothing else is parsed."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    return MarkdownIt("zero").use(dollarmath_plugin, **MATH_RULES)


def math_pieces(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_formula) pairs that join back into ``text``; a formula
    piece keeps its ``$``/``$$`` delimiters: "la raíz $\\sqrt{x}$" -> [("la raíz ", False),
    ("$\\sqrt{x}$", True)]."""
    if "$" not in text:
        return [(text, False)]
    # The parser turns "\r\n" into "\n"; a copy of the same length keeps its tokens'
    # lengths those of ``text``, which is then cut at them.
    source = text.replace("\r", "\n").replace("\0", "\ufffd")
    (inline,) = _math_parser().parseInline(source)
    pieces: list[tuple[str, bool]] = []
    start = 0
    for token in inline.children or []:
        formula = token.type in _MATH_TOKENS
        end = start + len(token.content) + (2 * len(token.markup) if formula else 0)
        if pieces and not formula and not pieces[-1][1]:
            pieces[-1] = (pieces[-1][0] + text[start:end], False)
        else:
            pieces.append((text[start:end], formula))
        start = end
    if start != len(text):  # never seen; the old reading rather than a cut formula
        return [(text, False)]
    return pieces


def strip_markup_outside_math(text: str) -> str:
    """``strip_markup`` (the * _ ` marks dropped) everywhere but in the formulas, whose TeX
    stays as written: what a study card shows, so that "$d_k$" reaches KaTeX whole. The
    same as ``strip_markup`` for a text without formulas (a card's id never depends on it)."""
    return "".join(
        piece if formula else strip_markup(piece) for piece, formula in math_pieces(text)
    )


def split_tags(question: str) -> tuple[str, tuple[str, ...]]:
    """A question and the #tags typed in it, apart: "¿Qué es BERT? #nlp" -> ("¿Qué es
    BERT?", ("nlp",)). The search then reads only the notes with those tags."""
    tags = tuple(dict.fromkeys(match.group(1) for match in TAG.finditer(question)))
    return " ".join(TAG.sub(" ", question).split()), tags


# -- front matter --------------------------------------------------------------------


@dataclass(frozen=True)
class FrontMatter:
    """A note's YAML front matter (Obsidian's properties), kept out of its chunks."""

    end: int = 0  # where the note's body starts (0: no front matter)
    title: str = ""
    tags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    problem: str = ""  # why a block that looks like front matter could not be read


def _names(value) -> tuple[str, ...]:
    """A property that holds one name or a list of them ("tags: [a, b]", "tags: a")."""
    values = value if isinstance(value, list) else [value] if value else []
    return tuple(str(v).strip().lstrip("#") for v in values if str(v).strip())


def read_front_matter(text: str) -> FrontMatter:
    """The front matter at the top of ``text`` (python-frontmatter's YAML handler reads
    it); ``end`` is where the body starts, so offsets into the note stay true."""
    import frontmatter
    import yaml

    handler = frontmatter.YAMLHandler()
    if not text.startswith("---") or not handler.detect(text):
        return FrontMatter()
    try:
        fm, content = handler.split(text)
        properties = handler.load(fm) or {}
    except (ValueError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        return FrontMatter(problem=f"la cabecera YAML no se pudo leer ({first})")
    if not isinstance(properties, dict):
        return FrontMatter(problem="la cabecera YAML no es una lista de propiedades")
    end = len(text) - len(content)
    end += len(content) - len(content.removeprefix("\r").removeprefix("\n"))  # its line break
    return FrontMatter(
        end,
        str(properties.get("title") or "").strip(),
        _names(properties.get("tags")),
        _names(properties.get("aliases")),
    )


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
