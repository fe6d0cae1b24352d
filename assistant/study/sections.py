"""What a card shows of a section's Markdown blocks (``corpus.markdown.read_blocks``, with
exact offsets): the sentences of a prose block, and the blocks as plain lines."""

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
