"""Properties of heading-aware chunking, over real notes and edge cases x configurations."""

from __future__ import annotations

import pytest

from corpus.chunking import chunk_note
from corpus.config import ChunkConfig
from corpus.markdown import find_sections
from corpus.records import Note
from tests.conftest import NOTES

SYNTHETIC = {
    "no_headings": "Una nota sin títulos.\n\n" + "Frase de relleno sobre atención. " * 80,
    "fenced_hash": "# Título\n\nTexto.\n\n```python\n# no es un título\nx = 1\n```\n\n## Sección\nMás.",
    "one_long_line": "# Largo\n" + "palabra" * 900,
    "crlf": "# Uno\r\nlínea uno\r\n\r\n## Dos\r\nlínea dos\r\n",
    "heading_only": "# Solo un título\n",
    "blank_gaps": "\n\n\n# A\n\n\n\ntexto a\n\n\n\n## B\n\n   \n",
}
NOTES_BY_NAME = {
    **{path.name: path.read_text(encoding="utf-8") for path in sorted(NOTES.glob("*.md"))},
    **SYNTHETIC,
}
CONFIGS = [ChunkConfig(200, 0), ChunkConfig(400, 50), ChunkConfig(), ChunkConfig(3000, 300)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.chunk_size}-{c.chunk_overlap}")
@pytest.mark.parametrize("name", sorted(NOTES_BY_NAME))
def test_chunks_are_exact_spans_covering_every_character(name, config):
    text = NOTES_BY_NAME[name]
    note = Note(source=name, text=text, sha256="x")
    chunks = chunk_note(note, config)
    covered = [False] * len(text)
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.source == name
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    uncovered = [i for i, ch in enumerate(text) if not covered[i] and not ch.isspace()]
    assert uncovered == [], f"characters not in any chunk at {uncovered[:5]}"
    # Only whitespace-only stretches may be left out.
    assert len({c.id for c in chunks}) == len(chunks)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.chunk_size}-{c.chunk_overlap}")
@pytest.mark.parametrize("name", sorted(NOTES_BY_NAME))
def test_chunks_respect_size_and_never_cross_a_heading(name, config):
    text = NOTES_BY_NAME[name]
    sections = find_sections(text)
    for chunk in chunk_note(Note(name, text, "x"), config):
        assert len(chunk.text) <= config.chunk_size
        inside = [s for s in sections if s.start <= chunk.start and chunk.end <= s.end]
        assert len(inside) == 1, "a chunk spans two sections"
        assert chunk.heading == " > ".join(inside[0].path)
        lines = chunk.text.strip().splitlines()
        # A lone heading only if nothing follows it (or it is longer than half a chunk).
        if len(lines) == 1 and lines[0].startswith("#") and len(lines[0]) < config.chunk_size // 2:
            assert not text[chunk.end : inside[0].end].strip()


def test_heading_paths_follow_nesting_and_ignore_code_fences():
    text = SYNTHETIC["fenced_hash"]
    paths = [s.path for s in find_sections(text)]
    assert paths == [("Título",), ("Título", "Sección")]


def test_heading_markup_is_removed_and_levels_pop():
    text = "# Doc\n## *Uno*\ntexto\n### Sub\nmás\n## Dos\nfin\n"
    assert [s.path for s in find_sections(text)] == [
        ("Doc",),
        ("Doc", "Uno"),
        ("Doc", "Uno", "Sub"),
        ("Doc", "Dos"),
    ]


def test_ids_are_stable_and_depend_on_content():
    note = Note("a.md", "# A\nuno\n## B\ndos\n", "x")
    first = [c.id for c in chunk_note(note)]
    assert first == [c.id for c in chunk_note(note)]
    changed = Note("a.md", "# A\nuno\n## B\ntres\n", "y")
    assert [c.id for c in chunk_note(changed)][0] == first[0]
    assert [c.id for c in chunk_note(changed)][1] != first[1]


def test_continuation_chunks_carry_their_heading_for_embedding():
    note = Note("a.md", "## Atención\n" + "La atención pondera tokens. " * 40, "x")
    chunks = chunk_note(note, ChunkConfig(300, 0))
    assert len(chunks) > 1
    # The first chunk already starts with its heading; it is not repeated.
    assert chunks[0].embed_text().startswith("Atención\nLa atención")
    assert all(c.embed_text().startswith("Atención\n") for c in chunks[1:])


@pytest.mark.parametrize(
    "markdown, plain",
    [
        ("## 12. ¿Qué es *Self-Attention*?\ntexto", "¿Qué es Self-Attention?\ntexto"),
        ("Un **MLM** usa `[MASK]`", "Un MLM usa [MASK]"),
        ("1. **Encoder:** procesa", "1. Encoder: procesa"),
    ],
)
def test_embedders_see_text_without_markup(markdown, plain):
    assert (
        Note("a.md", markdown, "x")
        and chunk_note(Note("a.md", markdown, "x"))[0].embed_text() == plain
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"chunk_size": 50}, {"chunk_overlap": -1}, {"chunk_size": 400, "chunk_overlap": 300}],
)
def test_config_rejects_bad_values_naming_the_field(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ChunkConfig(**kwargs)
