"""Convert the student's PDF-extracted seed notes into clean Markdown notes.

Usage::

    python3 scripts/convert_seeds.py SEEDS_DIR OUT_DIR

Each seed file named in ``SEEDS`` becomes ``OUT_DIR/<slug>.md``. The
conversion is deterministic (same seeds, same bytes), never writes to
SEEDS_DIR, and writes every output to a temporary file that is then renamed,
so a reader never sees a half-written note.

The seeds were exported from a chat/Obsidian page to PDF and extracted back to
text, which left artefacts. The repairs below change layout only; the words of
the notes are kept (the one exception is a duplicated formula, see 6). In
pipeline order:

1. Obsidian image embeds (``![[Pasted image ...png]]``) are removed: the images
   are not part of the seeds, so the embed would be a dead link.
2. Code blocks. The chat UI's ``Copiar código`` button text and the lone
   language label above it (``python``) are dropped; the label becomes the
   fence's language tag. Code that the PDF split into many consecutive fences
   is merged into one block. Inside it, the blank lines the PDF put between
   code lines are dropped (a single blank line is kept before a comment to
   separate steps), and lines broken by the page width are re-joined: after a
   trailing ``=``/``,``/``(``, inside an unclosed string literal, and a comment
   whose wrapped tail is plain words. A labelled snippet the PDF left
   unfenced (the prompt examples of ``a -> b`` pairs) is fenced as ``text``;
   its label (``rust``) was the chat UI's wrong guess.
3. Lone ``-`` lines, used by the export as separators between answers, are
   dropped: Markdown would render them as empty bullets.
4. Inline HTML from the export is stripped: ``<i>x</i>`` becomes ``*x*`` and
   ``<ul ...>`` wrappers inside table cells are removed.
5. Tab-separated lines (tables flattened by the export) become pipe tables;
   the first line is the header.
6. A formula repeated on consecutive lines (the LaTeX source followed by the
   PDF's garbled rendering of the same formula) is kept once, the first copy.
   Two formulas count as the same when they have the same letters and digits
   once LaTeX command names are removed.
7. A paragraph split by a page break (a line ending mid-sentence, a blank line,
   then a line starting in lower case) is re-joined.
8. Numbered questions become ``## N. question`` headings, renumbered 1..N
   because the seed numbering has duplicates and gaps. A numbered line is a
   question when it follows a blank line and ends with ``?`` or starts with an
   imperative opener (``Explica``, ``Describí``, ...); numbered items inside an
   answer (``1. **Encoder:**``, ``1. Dataset:``) are not questions.
9. Numbered items inside an answer: an empty item (``4.`` with no text) is
   dropped and the following items are renumbered to close the gap.
10. List nesting. The PDF lost most indentation (a sub-item has one leading
    space, or none after a blank line) and added a stray space before some
    top-level items. Nesting is rebuilt from the structure of the notes: an
    item ending with ``:`` (a label such as ``**Encoder:**`` or ``... como:``)
    opens a group and the bullets after it are its children; a bullet label
    like ``**Fine-tuning (FT):**`` that follows children of an earlier bullet
    label is that label's sibling. Numbered items are always top level.
    Children are indented to their parent's content column; so are text lines
    continuing an item and the paragraph after a blank line that is the body
    of a childless label item. ``●`` bullets become ``-``.
11. The document gets its ``#`` title from ``SEEDS`` (replacing a seed's own
    ``#`` line), leading blank lines go, blank-line runs collapse to one,
    headings, code blocks and tables are set off by blank lines, trailing
    whitespace is stripped and the file ends with one newline.

Stage 2 turns a fenced code block into a single list element holding the whole
block (newlines included); later stages see it as one opaque line starting
with three backticks and leave it alone.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Seed file name -> (output slug, document title).
SEEDS: dict[str, tuple[str, str]] = {
    "000_f25acd4c09a1a7da.txt": ("teacher_forcing", "Teacher Forcing en Modelos de Lenguaje"),
    "004_aa60cd60d7843f2d.txt": ("preguntas_nlp_llm", "Preguntas y respuestas sobre NLP y LLMs"),
}

FENCE = "```"
COPY_MARKER = "Copiar código"
LANGUAGE_LABELS = frozenset(
    {
        "bash",
        "c",
        "cpp",
        "java",
        "javascript",
        "json",
        "python",
        "rust",
        "shell",
        "sql",
        "text",
        "yaml",
    }
)
# Openers of questions phrased as requests ("Explica el mecanismo ...").
IMPERATIVE_OPENERS = frozenset(
    {"Describe", "Describí", "Diseña", "Diseñá", "Explica", "Explicá", "Suponiendo", "Tengo"}
)

IMAGE_EMBED = re.compile(r"!\[\[[^\]]*\]\]")
NUMBERED_ITEM = re.compile(r"^(\s*)(\d+)\.(?:\s+(.*?))?\s*$")
BULLET_ITEM = re.compile(r"^(\s*)[-●]\s+(.*?)\s*$")
FORMULA_LINE = re.compile(r"^\$.*\$$")
LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
ITALIC_TAG = re.compile(r"<i>(.*?)</i>")
LIST_TAG = re.compile(r"</?(?:ul|li)\b[^>]*>")
# Characters that mark a line as code rather than the wrapped tail of a comment.
CODE_CHARS = re.compile(r"[=()\[\]{}.'\"]")
# A line ending in a letter or a comma stops mid-sentence.
MID_SENTENCE_END = re.compile(r"(?:[^\W\d_]|,)$")


# ---------------------------------------------------------------- helpers


def is_code(line: str) -> bool:
    return line.startswith(FENCE)


def is_heading(line: str) -> bool:
    return line.startswith("#")


def is_table(line: str) -> bool:
    return line.startswith("|")


def is_list_item(line: str) -> bool:
    return bool(NUMBERED_ITEM.match(line) or BULLET_ITEM.match(line))


def is_plain_text(line: str) -> bool:
    """A prose line: not blank, not a heading, code block, table or list item."""
    return bool(line.strip()) and not (
        is_code(line) or is_heading(line) or is_table(line) or is_list_item(line)
    )


def ends_with_colon(text: str) -> bool:
    """True for labels such as ``**Encoder:**`` or ``... como:``."""
    return text.rstrip().rstrip("*").rstrip().endswith(":")


def outside_code(fn):
    """Apply a per-line rewrite to every line except code blocks."""

    @functools.wraps(fn)
    def apply(lines: list[str]) -> list[str]:
        return [line if is_code(line) else fn(line) for line in lines]

    return apply


# ---------------------------------------------------------------- 1. images


def drop_image_embeds(lines: list[str]) -> list[str]:
    """Remove Obsidian image embeds; the images are not available."""
    return [IMAGE_EMBED.sub("", line) for line in lines]


# ---------------------------------------------------------------- 2. code


def _skip_blank_and_markers(lines: list[str], i: int) -> tuple[int, bool]:
    """Index of the next line that is neither blank nor ``Copiar código``,
    and whether a marker was skipped on the way."""
    saw_marker = False
    while i < len(lines) and (not lines[i].strip() or lines[i].strip() == COPY_MARKER):
        saw_marker = saw_marker or lines[i].strip() == COPY_MARKER
        i += 1
    return i, saw_marker


def _gather_fences(lines: list[str], i: int) -> tuple[list[str], int]:
    """Collect the bodies of consecutive fenced blocks starting at ``lines[i]``
    (separated only by blank lines) into one body; return it and the index
    after the last closing fence."""
    body: list[str] = []
    while i < len(lines) and lines[i].strip() == FENCE:
        i += 1
        while i < len(lines) and lines[i].strip() != FENCE:
            body.append(lines[i])
            i += 1
        i += 1  # past the closing fence
        nxt = i
        while nxt < len(lines) and not lines[nxt].strip():
            nxt += 1
        if nxt < len(lines) and lines[nxt].strip() == FENCE:
            i = nxt  # another fragment of the same code follows
        else:
            break
    return body, min(i, len(lines))


def _take_unfenced_snippet(lines: list[str], i: int) -> tuple[list[str], int]:
    """A labelled snippet the PDF left unfenced: the lines from ``i`` up to the
    last one holding an ``->`` example pair, stopping at the next separator,
    heading or numbered line. Returns ([], i) when there is no such pair."""
    candidates: list[int] = []
    k = i
    while k < len(lines):
        stripped = lines[k].strip()
        if stripped == "-" or is_heading(stripped) or NUMBERED_ITEM.match(lines[k]):
            break
        if stripped:
            candidates.append(k)
        k += 1
    with_arrow = [k for k in candidates if "->" in lines[k]]
    if not with_arrow:
        return [], i
    last = with_arrow[-1]
    return [lines[k].strip() for k in candidates if k <= last], last + 1


def _has_open_string(line: str) -> bool:
    """An odd number of quotes: a string literal continues on the next line."""
    return line.count("'") % 2 == 1 or line.count('"') % 2 == 1


def _wrap_glue(prev: str, nxt: str) -> str | None:
    """How ``nxt`` joins ``prev`` when it is a PDF line-wrap continuation of
    it (``""`` or ``" "``), or None when it is a line of its own."""
    is_comment = prev.lstrip().startswith("#")
    if not is_comment and _has_open_string(prev):
        return ""  # the wrap cut a string literal: glue without a space
    if not is_comment and prev.rstrip().endswith(("=", ",")):
        return " "
    if not is_comment and prev.rstrip().endswith(("(", "[")):
        return ""
    if is_comment and not nxt.lstrip().startswith("#") and not CODE_CHARS.search(nxt):
        return " "  # plain words after a comment: its wrapped tail
    return None


def join_wrapped_code_lines(lines: list[str]) -> list[str]:
    """Re-join code lines broken by the PDF line wrap; drop blank lines, which
    the PDF inserted between every pair of code lines."""
    joined: list[str] = []
    for line in (raw.rstrip() for raw in lines):
        if not line.strip():
            continue
        glue = _wrap_glue(joined[-1], line) if joined else None
        if glue is None:
            joined.append(line)
        else:
            joined[-1] = joined[-1].rstrip() + glue + line.strip()
    return joined


def _space_before_comments(lines: list[str]) -> list[str]:
    """One blank line before each comment that follows code, to separate steps."""
    out: list[str] = []
    for line in lines:
        if out and line.lstrip().startswith("#") and not out[-1].lstrip().startswith("#"):
            out.append("")
        out.append(line)
    return out


def fenced_block(language: str, body: list[str]) -> str:
    return "\n".join([FENCE + language, *body, FENCE])


def build_code_blocks(lines: list[str]) -> list[str]:
    """Turn labelled / split / unfenced code into single fenced blocks and drop
    every ``Copiar código`` marker (see repair 2 in the module docstring)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped == COPY_MARKER:
            i += 1
            continue
        language = ""
        start = i
        if stripped in LANGUAGE_LABELS:
            nxt, saw_marker = _skip_blank_and_markers(lines, i + 1)
            fence_next = nxt < len(lines) and lines[nxt].strip() == FENCE
            if saw_marker or fence_next:  # a label, not a one-word sentence
                language, start = stripped, nxt
        if start < len(lines) and lines[start].strip() == FENCE:
            body, i = _gather_fences(lines, start)
            code = _space_before_comments(join_wrapped_code_lines(body))
            out.append(fenced_block(language, code))
            continue
        if language:
            snippet, i = _take_unfenced_snippet(lines, start)
            if snippet:
                out.append(fenced_block("text", snippet))
            continue  # the label line itself is dropped either way
        out.append(lines[i])
        i += 1
    return out


# ---------------------------------------------------------------- 3. separators


def drop_separator_lines(lines: list[str]) -> list[str]:
    """Drop lone ``-`` lines (answer separators, empty bullets in Markdown)."""
    return [line for line in lines if line.strip() != "-"]


# ---------------------------------------------------------------- 4. HTML


@outside_code
def strip_inline_html(line: str) -> str:
    """``<i>x</i>`` -> ``*x*``; list wrappers inside table cells are removed."""
    line = ITALIC_TAG.sub(r"*\1*", line)
    return LIST_TAG.sub("", line)


# ---------------------------------------------------------------- 5. tables


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def convert_tables(lines: list[str]) -> list[str]:
    """Turn runs of tab-separated lines into a Markdown pipe table."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        if is_code(lines[i]) or "\t" not in lines[i]:
            out.append(lines[i])
            i += 1
            continue
        rows: list[list[str]] = []
        while i < len(lines) and not is_code(lines[i]) and "\t" in lines[i]:
            cells = lines[i].strip().split("\t")
            # Collapse inner whitespace; escape pipes, which would split a cell.
            rows.append([" ".join(cell.split()).replace("|", "\\|") for cell in cells])
            i += 1
        width = max(len(row) for row in rows)
        rows = [row + [""] * (width - len(row)) for row in rows]
        out.append(_table_row(rows[0]))
        out.append(_table_row(["---"] * width))
        out.extend(_table_row(row) for row in rows[1:])
    return out


# ---------------------------------------------------------------- 6. formulas


def _formula_signature(line: str) -> Counter:
    """Letters and digits of a formula once LaTeX command names are removed, so
    the LaTeX source and the PDF's flattened rendering compare equal."""
    return Counter(ch for ch in LATEX_COMMAND.sub("", line) if ch.isalnum())


def dedupe_formulas(lines: list[str]) -> list[str]:
    """Keep one copy of a formula repeated on consecutive lines/paragraphs."""
    out: list[str] = []
    for line in lines:
        if FORMULA_LINE.match(line.strip()):
            previous = next((p for p in reversed(out) if p.strip()), "")
            if FORMULA_LINE.match(previous.strip()) and _formula_signature(
                previous
            ) == _formula_signature(line):
                continue
        out.append(line)
    return out


# ---------------------------------------------------------------- 7. page breaks


def join_broken_paragraphs(lines: list[str]) -> list[str]:
    """Re-join a sentence that a page break split into two paragraphs: a prose
    line ending mid-sentence, one blank line, a prose line in lower case."""
    out: list[str] = []
    for line in lines:
        if (
            len(out) >= 2
            and not out[-1].strip()
            and is_plain_text(out[-2])
            and MID_SENTENCE_END.search(out[-2].rstrip())
            and is_plain_text(line)
            and line.lstrip()[:1].islower()
        ):
            out.pop()  # the blank line inside the sentence
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return out


# ---------------------------------------------------------------- 8. questions


def is_question(text: str) -> bool:
    """A numbered line's text is a question, not an item of an answer."""
    if text.startswith("**"):
        return False
    first_word = text.split()[0].rstrip(",")
    return text.endswith("?") or first_word in IMPERATIVE_OPENERS


def mark_questions(lines: list[str]) -> list[str]:
    """Numbered questions -> ``## N. question``, renumbered 1..N."""
    out: list[str] = []
    number = 0
    for i, line in enumerate(lines):
        match = NUMBERED_ITEM.match(line)
        after_blank = i == 0 or not lines[i - 1].strip()
        if (
            match
            and not match.group(1)
            and match.group(3)
            and after_blank
            and is_question(match.group(3))
        ):
            number += 1
            out.append(f"## {number}. {match.group(3)}")
        else:
            out.append(line)
    return out


# ---------------------------------------------------------------- 9. answer numbering


def fix_answer_numbering(lines: list[str]) -> list[str]:
    """Drop empty numbered items and renumber the items of each answer's list
    so they run without gaps (a ``1.`` starts a new list)."""
    out: list[str] = []
    counter = 0
    for line in lines:
        if is_heading(line):
            counter = 0
        match = NUMBERED_ITEM.match(line)
        if not match or is_code(line):
            out.append(line)
            continue
        indent, seed_number, text = match.groups()
        if not text:
            continue  # an empty item: the PDF lost its content or it never had any
        # A list starts at its own number; later items continue the count.
        counter = int(seed_number) if counter == 0 or seed_number == "1" else counter + 1
        out.append(f"{indent}{counter}. {text}")
    return out


# ---------------------------------------------------------------- 10. lists


@dataclass
class _Item:
    kind: str  # "num" or "bullet"
    width: int  # width of the marker, i.e. where the item's content starts
    is_label: bool  # ends with ":" so the following bullets are its children


def _bullet_level(path: list[_Item], is_label: bool) -> int:
    """Nesting level of a new bullet given the chain of open items (see repair
    10 in the module docstring)."""
    if not path:
        return 0
    if path[-1].is_label:
        if is_label and path[-1].kind == "bullet":
            return len(path) - 1  # two labels in a row are siblings
        return len(path)  # the first child of a label
    if is_label:
        # A label after children of an earlier bullet label is that label's sibling.
        for level in range(len(path) - 2, -1, -1):
            if path[level].kind == "bullet":
                return level
    return len(path) - 1  # a sibling of the previous item


def normalize_lists(lines: list[str]) -> list[str]:
    """Rebuild list nesting lost in the PDF and indent it as valid Markdown."""
    out: list[str] = []
    path: list[_Item] = []
    in_item = False  # the previous line is an item or its continuation
    after_item = False  # the same, but blank lines in between are allowed

    def indent(level: int) -> str:
        return " " * sum(item.width for item in path[:level])

    for line in lines:
        numbered, bullet = NUMBERED_ITEM.match(line), BULLET_ITEM.match(line)
        if not line.strip():
            in_item = False
            out.append("")
            continue
        if is_code(line) or is_heading(line) or is_table(line):
            path = []
            out.append(line)
        elif numbered:
            _, number, text = numbered.groups()
            marker = f"{number}. "
            path = [_Item("num", len(marker), ends_with_colon(text))]
            out.append(marker + text)
        elif bullet:
            text = bullet.group(2)
            level = _bullet_level(path, ends_with_colon(text))
            path = path[:level]
            out.append(indent(level) + "- " + text)
            path.append(_Item("bullet", 2, ends_with_colon(text)))
        elif path and (in_item or (after_item and path[-1].is_label)):
            # A text line right after an item continues it; a paragraph after
            # a blank line is the body of a label item that has no children
            # yet (``1. **MLM:**``, blank, ``Ej., BERT: ...``).
            out.append(indent(len(path)) + line.strip())
            path[-1].is_label = ends_with_colon(line)
        else:
            path = []
            out.append(line.strip())
        in_item = after_item = bool(path)
    return out


# ---------------------------------------------------------------- 11. layout


def _needs_blank_between(previous: str, line: str) -> bool:
    """Headings and code blocks stand apart; so does a table as a whole."""
    if is_heading(previous) or is_code(previous) or is_heading(line) or is_code(line):
        return True
    return is_table(previous) != is_table(line)


def finish_layout(lines: list[str], title: str) -> str:
    """Title, blank-line normalization and trailing whitespace; returns text."""
    body = list(lines)
    first = next((i for i, line in enumerate(body) if line.strip()), None)
    if first is not None and body[first].startswith("# "):
        del body[first]  # the seed's own title is replaced by the SEEDS title
    out: list[str] = [f"# {title}"]
    for line in body:
        line = "\n".join(part.rstrip() for part in line.split("\n"))
        if not line:
            if out[-1]:
                out.append("")
            continue
        if out[-1] and _needs_blank_between(out[-1], line):
            out.append("")
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- pipeline

# Order matters: code is fenced first so that later stages can skip it, and
# questions are marked before list nesting so that headings end an answer.
PIPELINE = (
    drop_image_embeds,
    build_code_blocks,
    drop_separator_lines,
    strip_inline_html,
    convert_tables,
    dedupe_formulas,
    join_broken_paragraphs,
    mark_questions,
    fix_answer_numbering,
    normalize_lists,
)


def convert_text(text: str, title: str) -> str:
    """Convert one seed's text into the Markdown of its note."""
    lines = text.splitlines()
    for stage in PIPELINE:
        lines = stage(lines)
    return finish_layout(lines, title)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as tmp:
            tmp.write(text)
        os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp creates files 0600
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def convert_folder(seeds_dir: Path, out_dir: Path) -> list[Path]:
    """Convert every seed named in ``SEEDS``; returns the written paths."""
    seeds_dir, out_dir = seeds_dir.resolve(), out_dir.resolve()
    if out_dir == seeds_dir or seeds_dir in out_dir.parents:
        raise ValueError(f"output folder {out_dir} must not be inside the seeds folder")
    missing = [name for name in SEEDS if not (seeds_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"seeds not found in {seeds_dir}: {', '.join(missing)}")
    unknown = sorted(p.name for p in seeds_dir.glob("*.txt") if p.name not in SEEDS)
    if unknown:
        raise ValueError(
            f"seeds with no entry in SEEDS (add a slug and title): {', '.join(unknown)}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (slug, title) in sorted(SEEDS.items()):
        text = (seeds_dir / name).read_text(encoding="utf-8")
        target = out_dir / f"{slug}.md"
        write_atomic(target, convert_text(text, title))
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seeds_dir", type=Path, help="folder with the seed .txt files (read only)")
    parser.add_argument("out_dir", type=Path, help="folder for the Markdown notes")
    args = parser.parse_args(argv)
    try:
        written = convert_folder(args.seeds_dir, args.out_dir)
    except (OSError, ValueError) as err:
        print(f"convert_seeds: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
