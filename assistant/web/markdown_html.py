r"""A note's Markdown as safe HTML for the app: passages, source cards, note previews.

markdown-it-py, because it is a CommonMark-conformant port of markdown-it (maintained by
the Executable Books project, used by MyST and Jupyter Book), already in the environment,
and safe by configuration rather than by a sanitizer run afterwards: with ``html=False``
raw HTML in a note (``<script>``, ``<div onclick=…>``) is parsed as text and escaped, and
its link validator refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` links.
On top of that, images are drawn as their alt text (an offline app must not fetch a
note's remote image) and links open in a new tab without the opener.

A passage may carry a span to highlight (the sentence that backs a claim, the part of a
section a study card comes from), given as character offsets into the Markdown source.
Two private-use characters are put around the span before parsing and every piece of
text the renderer writes turns them into ``<mark>``/``</mark>``: a span that crosses a
list item or a paragraph is closed and reopened at each text node, so the HTML stays
well nested. The markers are moved off block syntax (``- ``, ``## ``), a table row's
pipes, emphasis delimiters and the inside of an image's ``![``, so that they never change
how the Markdown parses.

Formulas (``$…$`` inline, ``$$…$$`` displayed) are found by mdit-py-plugins' dollarmath
with Pandoc's rules, so that prices stay text ("cuesta 5 $", "de $5 a $10"): the opening
``$`` must touch its formula, the closing one too, and no digit may touch either from the
outside. A formula becomes ``<span class="math inline|display">`` holding its TeX with
every ASCII punctuation character as a numeric entity: no tag can come from it, and the
Chatbot's Markdown renderer, which reads a chat message after us, leaves its ``\``, ``_``
and ``*`` alone. The page's KaTeX typesets those spans (assistant/web/static/app.js). The
same spans serve the note preview, the sources panel, the chat and the study cards.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Callable, Iterable

from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from corpus.markdown import MATH_RULES, WIKILINK, FrontMatter, link_text

START, END = "\ue000", "\ue001"  # private use: never in a note (replaced if they are)
_MARKERS = re.compile(f"([{START}{END}])")
# What opens a line before its text: indentation, list bullets and numbers, headings,
# quotes, a table's first pipe. A marker inside this would stop the line being a list item.
_LINE_PREFIX = re.compile(
    r"[ \t]*(?:#{1,6}[ \t]+|(?:(?:[-*+]|\d{1,9}[.)])[ \t]+|>[ \t]?|\|[ \t]*)*)"
)
_DELIMITERS = "*_~`"
_EDGES = _DELIMITERS + "|$"  # what a marker is moved off (_place_markers)
_WORD = re.compile(r"\w")
MARKDOWN_SUFFIXES = (".md", ".markdown")
_MATH_TOKENS = ("math_inline", "math_inline_double", "math_block")
_PUNCTUATION = frozenset(string.punctuation)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.add_render_rule("text", _render_text)
    md.add_render_rule("code_inline", _render_code_inline)
    md.add_render_rule("code_block", _render_code_block)
    md.add_render_rule("fence", _render_code_block)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("blockquote_open", _render_blockquote_open)
    md.inline.ruler.before("link", "wikilink", _wikilink_rule)
    md.add_render_rule("wikilink", _render_wikilink)
    md.use(dollarmath_plugin, **MATH_RULES)
    for kind in _MATH_TOKENS:
        md.add_render_rule(kind, _render_math)
    return md


def math_element(tex: str, display: bool) -> str:
    """The element the page's KaTeX typesets: ``tex`` as its text, every ASCII punctuation
    character a numeric entity (``<`` too), so the TeX is inert in any HTML and Markdown."""
    text = "".join(f"&#{ord(c)};" if c in _PUNCTUATION else c for c in tex.strip())
    return f'<span class="math {"display" if display else "inline"}">{text}</span>'


def _render_math(self, tokens, idx, options, env) -> str:
    """A formula's element; a highlight that starts, ends or runs through it marks it whole
    (a marker inside the TeX would break it)."""
    token = tokens[idx]
    marked = env["open"] or START in token.content
    for marker in _MARKERS.findall(token.content):
        env["open"] = marker == START
    element = math_element(_MARKERS.sub("", token.content), token.type != "math_inline")
    if marked:
        element = f"{env['mark']}{element}</mark>"
    return element + ("\n" if token.type == "math_block" else "")


def _marked(text: str, env: dict) -> str:
    """``text`` escaped, its markers turned into <mark> tags; a mark still open at the
    end is closed here and reopened by the next piece of text (``env["open"]``)."""
    pieces = [env["mark"]] if env["open"] else []
    for piece in _MARKERS.split(text):
        if piece == START and not env["open"]:
            pieces.append(env["mark"])
            env["open"] = True
        elif piece == END and env["open"]:
            pieces.append("</mark>")
            env["open"] = False
        elif piece not in (START, END):
            pieces.append(html.escape(piece, quote=False))
    if env["open"]:
        pieces.append("</mark>")
    return "".join(pieces)


def _render_text(self, tokens, idx, options, env) -> str:
    return _marked(tokens[idx].content, env)


def _render_code_inline(self, tokens, idx, options, env) -> str:
    return f"<code>{_marked(tokens[idx].content, env)}</code>"


def _render_code_block(self, tokens, idx, options, env) -> str:
    return f"<pre><code>{_marked(tokens[idx].content, env)}</code></pre>\n"


def _render_image(self, tokens, idx, options, env) -> str:
    """An image of the notes folder is drawn (``env["images"]``: its data URI); any other,
    a remote one above all, is its alt text (an offline app fetches nothing)."""
    alt = self.renderInlineAsText(tokens[idx].children or [], options, env)
    images = env.get("images")
    src = images(_MARKERS.sub("", tokens[idx].attrGet("src") or "")) if images else None
    if src:
        label = html.escape(_MARKERS.sub("", alt))
        return f'<img class="note-image" src="{src}" alt="{label}" title="{label}">'
    return _marked(alt, env)


def _render_link_open(self, tokens, idx, options, env) -> str:
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer")
    return self.renderToken(tokens, idx, options, env)


# An Obsidian callout's first line inside its quote: "[!note] Título" ("+"/"-": foldable).
_CALLOUT = re.compile(r"^\[!(?P<kind>[\w-]+)\][+-]?[ \t]*(?P<title>[^\n]*)")


def _render_blockquote_open(self, tokens, idx, options, env) -> str:
    """A quote that opens with "[!note] Título" is an Obsidian callout: a box with its
    kind as a class and its title on top, the marker line itself not shown."""
    inline = tokens[idx + 2] if idx + 2 < len(tokens) else None
    if inline is None or inline.type != "inline" or not inline.children:
        return "<blockquote>\n"
    first = inline.children[0]
    match = _CALLOUT.match(first.content) if first.type == "text" else None
    if match is None:
        return "<blockquote>\n"
    kind = re.sub(r"[^a-z0-9-]", "", match["kind"].lower()) or "note"
    title = match["title"].strip() or match["kind"].capitalize()
    # The marker line goes: the title is drawn above, the body starts on the next line.
    rest = inline.children[1:]
    while rest and rest[0].type in ("softbreak", "hardbreak"):
        rest = rest[1:]
    inline.children = rest
    return (
        f'<blockquote class="callout callout-{kind}">'
        f'<div class="callout-title">{_marked(title, env)}</div>\n'
    )


def _wikilink_rule(state, silent: bool) -> bool:
    """Obsidian's [[Nota#Sección|alias]] and ![[embed]] as one "wikilink" token."""
    start = state.pos
    if not state.src.startswith(("[[", "![["), start):
        return False
    match = WIKILINK.match(state.src, start)
    if match is None:
        return False
    if not silent:
        token = state.push("wikilink", "", 0)
        token.meta = match.groupdict()
        token.content = link_text(match)
    state.pos = match.end()
    return True


def note_names(sources: Iterable[str]) -> dict[str, str]:
    """How a link names a note -> the note: its path without ".md", and its file name
    alone (Obsidian's shortest form), both case-insensitive."""
    names: dict[str, str] = {}
    for source in sorted(sources, key=lambda s: (s.count("/"), s)):  # shallowest wins
        stem = source.rsplit(".", 1)[0] if is_markdown(source) else source
        for name in (stem, stem.rsplit("/", 1)[-1], source):
            names.setdefault(name.casefold(), source)
    return names


def _render_wikilink(self, tokens, idx, options, env) -> str:
    """A link to a note of the folder opens it (app.js, in the note preview); a link to a
    missing note is its text; an embed is its name, greyed (it is not drawn here)."""
    meta = tokens[idx].meta
    if meta["embed"]:
        name = (meta["target"] or "").strip()
        images = env.get("images")
        src = images(_MARKERS.sub("", name)) if images else None
        if src:
            label = html.escape(_MARKERS.sub("", name))
            return f'<img class="note-image" src="{src}" alt="{label}" title="{label}">'
        return f'<span class="wikilink-embed">{_marked(name, env)}</span>'
    text = _marked(tokens[idx].content, env)
    notes = env.get("notes")
    if notes is None:  # the folder's notes unknown here (a source card): the text alone
        return f'<span class="wikilink">{text}</span>'
    target = _MARKERS.sub("", meta["target"] or "").strip()
    note = notes.get(target.casefold()) if target else env.get("source")
    if not note:
        return f'<span class="wikilink missing">{text}</span>'
    section = html.escape(_MARKERS.sub("", meta["section"] or "").strip())
    return (
        f'<a class="wikilink" href="#" data-note="{html.escape(note)}" '
        f'data-section="{section}">{text}</a>'
    )


_MD = _parser()
# Plain text (a card's front, an answer's sentence): its formulas only, nothing else parsed.
_MATH_ONLY = MarkdownIt("zero").use(dollarmath_plugin, **MATH_RULES)


def text_html(text: str) -> str:
    """``text`` escaped as it is, its ``$…$`` and ``$$…$$`` formulas as math elements."""
    if "$" not in text:
        return html.escape(text, quote=True)
    (inline,) = _MATH_ONLY.parseInline(text)
    pieces = []
    for token in inline.children or []:
        if token.type in _MATH_TOKENS:
            pieces.append(math_element(token.content, token.type != "math_inline"))
        else:
            pieces.append(html.escape(token.content, quote=True))
    return "".join(pieces)


def _place_markers(text: str, start: int, end: int) -> str:
    """``text`` with START and END around [start, end), both moved inward off whitespace,
    a line's block syntax, a table row's pipes and emphasis delimiters (a marker next to
    ``**`` would change whether it opens or closes)."""
    while start < end and text[start].isspace():
        start += 1
    line_start = text.rfind("\n", 0, start) + 1
    start = max(start, _LINE_PREFIX.match(text, line_start).end())
    # A cell's pipe: a marker before it would belong to the previous cell. A formula's
    # "$": a marker before "$$" would stop it opening a display block; one inside the
    # formula marks it whole (_render_math).
    while start < end and (text[start].isspace() or text[start] in _EDGES):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _EDGES):
        end -= 1
    # Never between the "!" and the "[" of an image: "!<mark>[alt](url)" parses as a link.
    if text.startswith("![", start - 1):
        start -= 1
    if text.startswith("![", end - 1):
        end -= 1
    if not _WORD.search(text, start, end):  # a table's "| --- |", a stray "**"
        return text
    return text[:start] + START + text[start:end] + END + text[end:]


def markdown_html(
    text: str,
    mark: tuple[int, int] | None = None,
    mark_title: str = "",
    notes: dict[str, str] | None = None,
    source: str = "",
    images: Callable[[str], str | None] | None = None,
) -> str:
    """``text`` (Markdown) as HTML with no live markup of its own; ``mark`` = (start, end)
    character offsets into ``text`` highlighted with ``<mark title=mark_title>``; ``notes``
    (``note_names``) the notes a [[link]] may open (without it, links are their text), and
    ``source`` the note itself (a [[#Sección]] link); ``images`` a note's image name or
    path -> its data URI, None for one it may not show (``NoteImages``)."""
    text = text.replace(START, "\ufffd").replace(END, "\ufffd")
    if mark is not None:
        text = _place_markers(text, *mark)
    title = f' title="{html.escape(mark_title)}"' if mark_title else ""
    env = {"mark": f"<mark{title}>", "open": False, "notes": notes, "images": images}
    if notes is not None and source:
        env["source"] = source
    rendered = _MD.render(text, env)
    return rendered.replace(START, "").replace(END, "")  # a marker an attribute swallowed


def plain_html(text: str, mark: tuple[int, int] | None = None, mark_title: str = "") -> str:
    """``text`` escaped as it is (a .txt note, a PDF's extracted text), ``mark`` highlighted;
    the CSS keeps its line breaks."""
    if mark is None:
        return html.escape(text, quote=False)
    start, end = mark
    title = f' title="{html.escape(mark_title)}"' if mark_title else ""
    return (
        html.escape(text[:start], quote=False)
        + f"<mark{title}>"
        + html.escape(text[start:end], quote=False)
        + "</mark>"
        + html.escape(text[end:], quote=False)
    )


def properties_html(front: FrontMatter) -> str:
    """A note's front matter as the preview shows it: its title, tags and aliases, one
    line each; nothing when it has none."""
    rows = [
        ("Título", front.title),
        ("Etiquetas", " ".join(f"#{tag}" for tag in front.tags)),
        ("Alias", ", ".join(front.aliases)),
    ]
    shown = [
        f'<div><span class="property-name">{name}:</span> {html.escape(value)}</div>'
        for name, value in rows
        if value
    ]
    return f'<div class="note-properties">{"".join(shown)}</div>' if shown else ""


def is_markdown(source: str) -> bool:
    return source.lower().endswith(MARKDOWN_SUFFIXES)


def passage_html(
    text: str,
    source: str,
    mark: tuple[int, int] | None = None,
    mark_title: str = "",
    notes: dict[str, str] | None = None,
    images: Callable[[str], str | None] | None = None,
) -> str:
    """A passage of the note ``source`` as the ``passage`` block of a source card: rendered
    Markdown for a Markdown note (its [[links]] live when ``notes`` names the folder's
    notes, its images drawn by ``images``), escaped text for the others."""
    if is_markdown(source):
        body = markdown_html(text, mark, mark_title, notes, source, images)
        return f'<div class="passage md">{body}</div>'
    return f'<div class="passage">{plain_html(text, mark, mark_title)}</div>'
