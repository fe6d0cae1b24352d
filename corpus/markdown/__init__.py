"""The one Markdown reader of the project: the line grammar the notes use and a note's
front matter (``syntax``), a note's sections, callouts and blocks (``blocks``), and a
passage's units (what one answer sentence can restate) and sentences (``units``), every
piece with its exact offsets in the note or passage.

Hand-written, like its callers' needs: every chunk, card and highlight must map back to an
exact span of the note, and Markdown libraries (LangChain's MarkdownHeaderTextSplitter,
markdown-it's tokens) re-join lines or give line numbers, not character offsets.

Known limits: only the Markdown the notes use is recognised (ATX headings, ``-``/``*``/``+``
and ``1.``/``1)`` items, fenced code, ``|`` tables, ``$$`` math); an indented line right
after an item continues it, as in CommonMark, but lazy continuations are not followed
across blank lines.
"""

from corpus.markdown.blocks import (
    BLOCK_KINDS,
    CALLOUT,
    Block,
    BlockKind,
    Callout,
    Section,
    clean_heading,
    find_callouts,
    find_sections,
    item_body,
    read_blocks,
)
from corpus.markdown.syntax import (
    FENCE,
    HEADING,
    LIST_ITEM,
    LIST_MARKER,
    MATH_RULES,
    NOT_PROSE_STARTS,
    TABLE_RULE,
    TAG,
    WIKILINK,
    FrontMatter,
    is_fence,
    link_text,
    math_pieces,
    plain_text,
    read_front_matter,
    split_tags,
    strip_markup_outside_math,
)
from corpus.markdown.units import (
    HEADING_MARKS,
    UNIT_KINDS,
    Unit,
    UnitKind,
    prose_spans,
    read_units,
)

__all__ = [
    "BLOCK_KINDS",
    "Block",
    "BlockKind",
    "CALLOUT",
    "Callout",
    "FENCE",
    "FrontMatter",
    "HEADING",
    "HEADING_MARKS",
    "LIST_ITEM",
    "LIST_MARKER",
    "MATH_RULES",
    "NOT_PROSE_STARTS",
    "Section",
    "TABLE_RULE",
    "TAG",
    "UNIT_KINDS",
    "Unit",
    "UnitKind",
    "WIKILINK",
    "clean_heading",
    "find_callouts",
    "find_sections",
    "is_fence",
    "item_body",
    "link_text",
    "math_pieces",
    "plain_text",
    "prose_spans",
    "read_blocks",
    "read_front_matter",
    "read_units",
    "split_tags",
    "strip_markup_outside_math",
]
