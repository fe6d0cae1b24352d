"""Answer text -> sentences with their [n] citations, mapped to the retrieved passages."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from corpus.records import Hit
from corpus.text import sentences

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)\s*")
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Citation:
    n: int  # the passage number shown to the model, 1-based
    chunk_id: str
    source: str
    heading: str
    text: str
    tags: tuple[str, ...] = ()  # the note's tags (front matter), shown with the passage
    image: str = ""  # a passage read from an image: its path in the notes folder
    notebook: str = ""  # its notebook, in a search over every notebook ("todas")

    def __post_init__(self) -> None:
        # Read back from JSON (a saved chat) the tags are a list: a record stays hashable.
        object.__setattr__(self, "tags", tuple(self.tags))

    @classmethod
    def from_hit(cls, n: int, hit: Hit) -> Citation:
        chunk = hit.chunk
        return cls(
            n,
            chunk.id,
            chunk.source,
            chunk.heading,
            chunk.text,
            chunk.tags,
            chunk.image,
            chunk.notebook,
        )

    def label(self) -> str:
        """ "[n] note — heading · #tags", with its notebook first in a search over all."""
        where = f"{self.notebook} › " if self.notebook else ""
        tags = "".join(f" #{tag}" for tag in self.tags)
        return f"[{self.n}] {where}{self.source} — {self.heading}" + (f" ·{tags}" if tags else "")

    def to_json(self) -> dict:
        return asdict(self)


def cited_numbers(text: str) -> list[int]:
    """[2], [1, 3] and [1][2] -> [2], [1, 3], [1, 2]; in order, without repeats."""
    numbers: list[int] = []
    for group in _MARKER.findall(text):
        for part in re.split(r"[,;]", group):
            if int(part) not in numbers:
                numbers.append(int(part))
    return numbers


def strip_citations(text: str) -> str:
    return _SPACES.sub(" ", _MARKER.sub("", text)).replace(" .", ".").strip()


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer, each keeping the citation markers that close it.

    pysbd does the splitting (Spanish rules: abbreviations, decimals); a marker it puts at
    the start of the next sentence ("... dato. [2] Además") is moved back to its sentence.
    List items stay one sentence each.
    """
    pieces: list[str] = []
    for line in text.splitlines():
        for piece in sentences(line):
            piece = piece.strip()
            markers = _LEADING_MARKERS.match(piece)
            if markers and pieces:
                pieces[-1] = f"{pieces[-1]} {markers.group(1).strip()}"
                piece = piece[markers.end() :].strip()
            if piece:
                pieces.append(piece)
    return [p for p in pieces if strip_citations(p).strip(" -*•")]


def map_citations(numbers: list[int], hits: list[Hit]) -> tuple[list[int], list[int]]:
    """Split cited numbers into those naming a retrieved passage and those that do not."""
    valid = [n for n in numbers if 1 <= n <= len(hits)]
    invalid = [n for n in numbers if not 1 <= n <= len(hits)]
    return valid, invalid
