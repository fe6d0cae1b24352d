"""Typed records that flow out of the corpus stage."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from corpus.markdown import plain_text


def content_hash(*parts: str, length: int = 16) -> str:
    """Stable hex digest of the given strings (NUL-separated so parts cannot run together)."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


@dataclass(frozen=True)
class Note:
    """One note file as read from the notes folder."""

    source: str  # path relative to the notes folder, with forward slashes
    text: str
    sha256: str  # of the file's bytes: tells a changed note from an unchanged one


@dataclass(frozen=True)
class Chunk:
    """A span of a note: ``text == note.text[start:end]``; or the text of an image the
    note embeds (``image`` set, read by OCR: ``corpus/ocr.py``), its ``start``/``end`` the
    embed's span in the note."""

    id: str  # content hash of (source, heading, text): stable across re-indexing
    source: str
    heading: str  # heading path, e.g. "Preguntas de NLP > 12. ¿Qué es Self-Attention?"
    text: str
    start: int  # character offsets in the note's text
    end: int
    section: str = ""  # the nearest heading alone, as written in the note (no markup)
    tags: tuple[str, ...] = ()  # the note's tags (its front matter's "tags")
    image: str = ""  # an image's chunk: the image's path in the notes folder
    notebook: str = ""  # set only in a search over every notebook (index/merged.py)

    def embed_text(self) -> str:
        """Text given to embedders and BM25: the section heading travels with every piece.

        A continuation chunk of a long section does not contain its heading, and the heading
        is often the best summary of what the piece is about.
        """
        text = plain_text(self.text)
        if not self.section or self.text.lstrip().startswith("#"):
            return text
        return f"{plain_text(self.section)}\n{text}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> Chunk:
        return cls(**{**record, "tags": tuple(record.get("tags", ()))})


@dataclass(frozen=True)
class Hit:
    """A chunk returned for a query, with the retriever's score (higher is better)."""

    chunk: Chunk
    score: float

    def to_json(self) -> dict:
        found = {
            "chunk_id": self.chunk.id,
            "source": self.chunk.source,
            "heading": self.chunk.heading,
            "text": self.chunk.text,
            "score": round(float(self.score), 6),
        }
        if self.chunk.image:  # a passage read from an image: which one
            found["image"] = self.chunk.image
        return found
