"""The line grammar the notes use (headings, fences, list markers, tables, Obsidian's
links and tags, formulas) and a note's YAML front matter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from corpus.text import strip_markup

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
