"""Heading-aware chunking: a note is cut at its Markdown headings, then each section is
split with LangChain's RecursiveCharacterTextSplitter.

Why the sections are found by hand: LangChain's MarkdownHeaderTextSplitter re-joins lines
and drops character offsets, and every chunk here must map back to an exact span of the
note (citations highlight it). Finding ATX headings outside code fences is a few lines.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from corpus.config import ChunkConfig
from corpus.markdown import Section, find_callouts, find_sections, read_front_matter
from corpus.records import Chunk, Note, content_hash

if TYPE_CHECKING:
    from corpus.ocr import ImageText


def _splitter(chunk_size: int, config: ChunkConfig) -> RecursiveCharacterTextSplitter:
    # strip_whitespace=False keeps every piece an exact substring, so offsets stay true
    # and the pieces cover every character of the section.
    return RecursiveCharacterTextSplitter.from_language(
        Language.MARKDOWN,
        chunk_size=chunk_size,
        chunk_overlap=min(config.chunk_overlap, chunk_size // 2),
        add_start_index=True,
        strip_whitespace=False,
    )


def split_section(text: str, section: Section, config: ChunkConfig) -> list[tuple[int, int]]:
    """(start, end) offsets in ``text`` of the pieces of one section.

    A long section's body is split on its own and its heading line is glued to the first
    piece: split together, the heading would often end up as a chunk of its own.
    """
    if section.end - section.start <= config.chunk_size:
        return [(section.start, section.end)]
    body_start = section.start
    if section.path:
        newline = text.find("\n", section.start, section.end)
        body_start = section.end if newline < 0 else newline + 1
    heading_length = body_start - section.start
    if heading_length > config.chunk_size // 2:  # a heading as long as a chunk: no gluing
        body_start, heading_length = section.start, 0
    splitter = _splitter(config.chunk_size - heading_length, config)
    body = text[body_start : section.end]
    spans = [
        (
            body_start + doc.metadata["start_index"],
            body_start + doc.metadata["start_index"] + len(doc.page_content),
        )
        for doc in splitter.create_documents([body])
    ]
    if not spans:
        return [(section.start, section.end)]
    spans[0] = (section.start, spans[0][1])
    return spans


def _pieces(text: str, section: Section, config: ChunkConfig) -> list[tuple[int, int]]:
    """The section's pieces, each callout (``> [!note] …``) a piece of its own: a boxed
    aside is one idea, and split across chunks it would lose its title."""
    callouts = find_callouts(text, section.start, section.end)
    if not callouts:
        return split_section(text, section, config)
    pieces: list[tuple[int, int]] = []
    cursor, path = section.start, section.path
    for callout in callouts:
        before = text[cursor : callout.start]
        heading_only = bool(path) and not before.partition("\n")[2].strip()
        if before.strip() and not heading_only:
            pieces += split_section(text, Section(cursor, callout.start, path), config)
            cursor = callout.start
        # A heading with nothing under it but the callout stays with the callout.
        pieces += split_section(text, Section(cursor, callout.end, path), config)
        cursor, path = callout.end, ()  # only the first piece holds the heading line
    if text[cursor : section.end].strip():
        pieces += split_section(text, Section(cursor, section.end, ()), config)
    return pieces


def chunk_note(note: Note, config: ChunkConfig | None = None) -> list[Chunk]:
    """Cut one note into chunks that never cross a heading and cover all its text."""
    config = config or ChunkConfig()
    tags = read_front_matter(note.text).tags
    chunks: list[Chunk] = []
    seen_ids: set[str] = set()
    for section in find_sections(note.text):
        if not note.text[section.start : section.end].strip():
            continue
        heading = " > ".join(section.path)
        for start, end in _pieces(note.text, section, config):
            piece = note.text[start:end]
            if not piece.strip():
                continue
            chunk_id = content_hash(note.source, heading, piece)
            if chunk_id in seen_ids:  # the same piece twice under one heading
                chunk_id = content_hash(note.source, heading, piece, str(start))
            seen_ids.add(chunk_id)
            chunks.append(
                Chunk(
                    id=chunk_id,
                    source=note.source,
                    heading=heading,
                    text=piece,
                    start=start,
                    end=end,
                    section=section.path[-1] if section.path else "",
                    tags=tags,
                )
            )
    return chunks


def chunk_notes(notes: list[Note], config: ChunkConfig | None = None) -> list[Chunk]:
    return [chunk for note in notes for chunk in chunk_note(note, config)]


def image_label(source: str) -> str:
    """How an image's passage is cited: "imagen en Atención" (the note's name, as
    Obsidian names notes)."""
    return f"imagen en {PurePosixPath(source).stem}"


def image_chunk(found: ImageText, tags: tuple[str, ...] = ()) -> Chunk:
    """The text read from an image, as a chunk of the note that embeds it. Its text opens
    with the image's embed, so that a passage drawn as Markdown shows the image above what
    was read from it; the embed itself adds nothing to what is embedded or searched
    (``plain_text`` drops it)."""
    embed = found.embed
    heading = image_label(embed.source)
    text = f"![[{found.image}]]\n\n{found.text}"
    return Chunk(
        id=content_hash(embed.source, heading, text, found.image),
        source=embed.source,
        heading=heading,
        text=text,
        start=embed.start,
        end=embed.end,
        section=embed.section,
        tags=tags,
        image=found.image,
    )


def image_chunks(notes: list[Note], found: list[ImageText]) -> list[Chunk]:
    """The chunks of the images' texts, each with the tags of the note that embeds it."""
    tags = {note.source: read_front_matter(note.text).tags for note in notes}
    return [image_chunk(image, tags.get(image.embed.source, ())) for image in found]
