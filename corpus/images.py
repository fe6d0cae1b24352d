"""The images a note embeds (``![[esquema.png]]``, ``![](adjuntos/esquema.png)``) and the
files they name, for the OCR (``corpus/ocr.py``).

Only images inside the notes folder are read, found as Obsidian finds them and as the app
draws them (``assistant/web/note_images.py``): a path relative to the note, else from the
folder, else the file name alone anywhere in the folder, the shallowest first; a link that
leads out of the folder is refused. An embed of a missing image is no chunk and no warning
(Obsidian shows it as missing too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from corpus.files import resolves_inside
from corpus.markdown import WIKILINK, find_sections, read_blocks
from corpus.records import Note

OCR_SUFFIXES = (".png", ".jpg", ".jpeg")  # what the OCR reads (the app draws GIF and WebP too)
# A Markdown image: ![alt](ruta.png), ![alt](<ruta con espacios.png> "título").
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\((?:<(?P<angled>[^>]+)>|(?P<plain>[^)\s]+))[^)]*\)")


@dataclass(frozen=True)
class ImageEmbed:
    """One image a note embeds: its markup's span in the note and the section around it."""

    source: str  # the note
    name: str  # the image as the note names it ("esquema.png", "adjuntos/esquema.png")
    start: int
    end: int
    section: str  # the nearest heading above the embed ("" before any)


def find_image_embeds(note: Note) -> list[ImageEmbed]:
    """The PNG and JPEG embeds of a note, outside code, in note order."""
    embeds = []
    for section in find_sections(note.text):
        title = section.path[-1] if section.path else ""
        for block in read_blocks(note.text, section):
            if block.kind in ("code", "math"):
                continue
            for match in WIKILINK.finditer(block.text):
                if match["embed"]:
                    embeds.append((match["target"].strip(), block.start, match, title))
            for match in MARKDOWN_IMAGE.finditer(block.text):
                name = unquote(match["angled"] or match["plain"])
                embeds.append((name, block.start, match, title))
    found = [
        ImageEmbed(note.source, name, offset + match.start(), offset + match.end(), title)
        for name, offset, match, title in embeds
        if name.lower().endswith(OCR_SUFFIXES)
    ]
    return sorted(found, key=lambda embed: embed.start)


class ImageFinder:
    """The image files that names in the notes lead to, inside the notes folder only: the
    OCR's (PNG, JPEG) and the app's (``assistant/web/note_images.py``: GIF and WebP too).
    The folder's images are listed once, on the first name looked up by file name alone."""

    def __init__(self, notes_dir: Path, suffixes: tuple[str, ...] = OCR_SUFFIXES) -> None:
        self.notes_dir = Path(notes_dir)
        self.suffixes = suffixes
        self._by_name: dict[str, Path] | None = None

    def named(self) -> dict[str, Path]:
        """The folder's images by file name (case folded), the shallowest first; none
        under a hidden folder (.obsidian, .trash, the app's .papelera)."""
        if self._by_name is None:
            found = sorted(
                (
                    path
                    for path in self.notes_dir.rglob("*")
                    if path.suffix.lower() in self.suffixes
                    and not any(p.startswith(".") for p in path.relative_to(self.notes_dir).parts)
                ),
                key=lambda path: (len(path.parts), str(path)),
            )
            self._by_name = {}
            for path in found:
                self._by_name.setdefault(path.name.casefold(), path)
        return self._by_name

    def find(self, name: str, source: str = "") -> Path | None:
        """The image ``name`` names in the note ``source`` (relative to the note, else to
        the folder, else by its file name anywhere), or None: not an image, not in the
        folder, or a link out of it."""
        name = name.strip()
        if not name or "://" in name or name.startswith(("data:", "/")):
            return None
        note_dir = (self.notes_dir / source).parent if source else self.notes_dir
        for candidate in (note_dir / name, self.notes_dir / name):
            if candidate.suffix.lower() in self.suffixes and candidate.is_file():
                return candidate if resolves_inside(candidate, self.notes_dir) else None
        found = self.named().get(Path(name).name.casefold())
        return found if found and resolves_inside(found, self.notes_dir) else None

    def path(self, embed: ImageEmbed) -> Path | None:
        return self.find(embed.name, embed.source)
