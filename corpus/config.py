"""Configuration of the corpus stage."""

from __future__ import annotations

from dataclasses import dataclass, field

from corpus.errors import SettingsError

NOTE_SUFFIXES = (".md", ".markdown", ".txt", ".pdf")


@dataclass(frozen=True)
class ChunkConfig:
    """How notes are read and cut into chunks. Sizes are in characters."""

    # Chosen by measurement on the dev set (docs/RESULTS.md): most note sections fit whole,
    # and e5's 512-token window holds ~1,800 Spanish characters.
    chunk_size: int = 1200
    chunk_overlap: int = 150
    # A note past this size is skipped with a warning: e5 embeds ~1,000 tokens/s here, so a
    # 5 MB note would take over 20 minutes.
    max_note_bytes: int = 5_000_000
    max_pdf_bytes: int = 50_000_000
    suffixes: tuple[str, ...] = field(default=NOTE_SUFFIXES)
    # Read the text of the PNG and JPEG images the notes embed (corpus/ocr.py): on by
    # default; off (index --no-ocr), an index builds without the OCR worker's time.
    ocr: bool = True

    def __post_init__(self) -> None:
        if self.chunk_size < 100:
            raise SettingsError(f"chunk_size must be >= 100 characters, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size // 2:
            raise SettingsError(
                f"chunk_overlap must be in [0, chunk_size/2), got {self.chunk_overlap} "
                f"for chunk_size={self.chunk_size}"
            )
        if self.max_note_bytes <= 0:
            raise SettingsError(f"max_note_bytes must be positive, got {self.max_note_bytes}")
        if self.max_pdf_bytes <= 0:
            raise SettingsError(f"max_pdf_bytes must be positive, got {self.max_pdf_bytes}")
