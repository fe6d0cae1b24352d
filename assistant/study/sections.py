"""What a card shows of a section's Markdown blocks (``corpus.markdown.read_blocks``, with
exact offsets): the sentences of a prose block, the blocks as plain lines, and the list an
answer is made of (``answer_list``: its top-level items, what is nested in each)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.markdown import FENCE, LIST_ITEM, Block, item_body, strip_markup_outside_math
from corpus.text import sentence_spans

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Sentence:
    """A sentence of a prose block: its exact span in the note and its plain text."""

    start: int
    end: int
    raw: str  # == note_text[start:end], Markdown emphasis included
    plain: str


def plain(markdown: str) -> str:
    """Emphasis marks dropped (not inside a formula: "$d_k$" stays, for KaTeX) and
    whitespace collapsed: what a card face shows."""
    return _SPACE.sub(" ", strip_markup_outside_math(markdown)).strip()


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
            marker = LIST_ITEM.match(block.text).group("marker")
            bullet = f"{marker[:-1]}." if marker[0].isdigit() else "-"
            line = "  " * (len(indents) - 1) + f"{bullet} {plain(item_body(block))}"
            lines.append((block, line))
            continue
        indents.clear()
        if block.kind == "prose":
            lines.append((block, plain(block.text)))
        elif block.kind == "code":
            body = block.text.splitlines()[1:]
            if body and FENCE.match(body[-1]):
                body = body[:-1]
            lines.append((block, "\n".join(body).strip("\n")))
        else:
            lines.append((block, block.text.strip()))
    return [(block, line) for block, line in lines if line]


def render(blocks: list[Block]) -> str:
    """The blocks as plain text, one line each (render_lines): a card's ``full_back``."""
    return "\n".join(line for _, line in render_lines(blocks))


# -- lists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListItem:
    """A top-level item of a list: its line (``render_lines``' form, "1. Generalización:")
    and the blocks nested in it (sub-items, an indented paragraph or code)."""

    block: Block
    line: str
    children: tuple[Block, ...] = ()

    @property
    def label(self) -> str:
        """What names the item: its text up to a ":" ("Representación densa"), else its
        first four words; what a back must show for the item to count as kept."""
        text = _MARKER.sub("", self.line)
        head, colon, _ = text.partition(":")
        if colon and 0 < len(head) <= 60:
            return head.strip()
        return " ".join(text.split()[:4])

    @property
    def head(self) -> str:
        """How the item's line starts: its marker and label ("1. Generalización")."""
        return self.line[: self.line.find(self.label) + len(self.label)]

    def summary(self) -> str:
        """The item on one line: its own text, and when that is only a label ("1.
        Generalización:"), the first sentence of what is nested in it."""
        if not self.line.rstrip().endswith(":"):
            return self.line
        texts = [
            plain(item_body(child) if child.kind == "item" else child.text)
            for child in self.children
            if child.kind in ("item", "prose")
        ]
        texts = [text for text in texts if text]
        # What the item says rather than its example, when it says both.
        said = [text for text in texts if not text.lower().startswith("ejemplo")] or texts
        if not said:
            return self.line
        spans = sentence_spans(said[0])
        first = said[0][spans[0][0] : spans[0][1]].strip() if spans else said[0]
        return f"{self.line} {first}"


@dataclass(frozen=True)
class AnswerList:
    """The list a section's answer is made of: its blocks (items and what is nested in
    them; an interruption between "3." and "4.", such as a code example, left out) and
    its top-level items. ``first`` indexes its first item in the section's blocks."""

    first: int
    blocks: tuple[Block, ...]
    items: tuple[ListItem, ...]

    def lines(self) -> list[str]:
        """Every item and sub-item, and the paragraphs inside items (indented under their
        item), as plain lines; code is left to ``full_back``."""
        lines = []
        for block, line in render_lines(list(self.blocks)):
            if block.kind == "item":
                lines.append(line)
            elif block.kind == "prose":
                lines.append("  " + line)
        return lines


_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def _number(block: Block) -> int | None:
    """An item's number ("3." -> 3), None for a bullet."""
    marker = LIST_ITEM.match(block.text)
    found = marker.group("marker") if marker else "-"
    return int(found[:-1]) if found[0].isdigit() else None


def _is_example(block: Block) -> bool:
    """A lead-in line of an example ("Ejemplo:", "Ejemplos:", "Ejemplo en código..."):
    the list after it illustrates the answer, it is not the answer."""
    return block.kind == "prose" and plain(block.text).lower().startswith("ejemplo")


def _list_run(blocks: list[Block], first: int) -> tuple[list[Block], int]:
    """The blocks of the list that starts at ``blocks[first]`` and the index after it. An
    indented block continues the item above it; a numbered list goes on after an
    interruption (a paragraph and a code block between "3." and "4.") when its numbering
    does."""
    top = blocks[first].indent
    members: list[Block] = []
    number: int | None = None
    i = first
    while i < len(blocks):
        block = blocks[i]
        if block.kind == "item" or block.text[:1] in (" ", "\t"):
            if block.kind == "item" and block.indent <= top:
                number = _number(block)
            members.append(block)
            i += 1
            continue
        following = next((j for j in range(i, len(blocks)) if blocks[j].kind == "item"), None)
        if (
            following is not None
            and number is not None
            and blocks[following].indent <= top
            and _number(blocks[following]) == number + 1
        ):
            i = following
            continue
        break
    return members, i


def answer_list(blocks: list[Block]) -> AnswerList | None:
    """The first list of a section's blocks with two or more top-level items that is not
    an example's (``_is_example``), or None."""
    lines = dict((id(block), line) for block, line in render_lines(blocks))
    i = 0
    while i < len(blocks):
        if blocks[i].kind != "item":
            i += 1
            continue
        members, after = _list_run(blocks, i)
        top = members[0].indent
        items: list[ListItem] = []
        for block in members:
            if block.kind == "item" and block.indent <= top:
                items.append(ListItem(block, lines.get(id(block), "")))
            elif items:
                last = items[-1]
                items[-1] = ListItem(last.block, last.line, (*last.children, block))
        if len(items) >= 2 and not (i and _is_example(blocks[i - 1])):
            return AnswerList(i, tuple(members), tuple(items))
        i = after
    return None
