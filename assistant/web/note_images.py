"""The images of a notes folder, as the app may draw them: only files inside the folder
(every link followed: the loader's rule for notes), PNG, JPEG, GIF or WebP, up to
MAX_IMAGE_BYTES, inlined as data URIs so that the page fetches nothing and no route of the
server ever reads the folder.

A name resolves as Obsidian resolves it (``corpus.images.ImageFinder``, the OCR's rule
too): a path relative to the note, else a path from the folder, else the file name alone
anywhere in the folder (the shallowest first).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

from corpus.images import ImageFinder

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
MAX_IMAGE_BYTES = 5_000_000


class NoteImages:
    def __init__(
        self, notes_dir: Path, source: str = "", finder: ImageFinder | None = None
    ) -> None:
        """``finder``: the folder's images, when already listed (NoteLinks lists them once
        for every passage)."""
        self.notes_dir = Path(notes_dir)
        self.source = source
        self.finder = finder or ImageFinder(self.notes_dir, tuple(IMAGE_TYPES))

    def path(self, name: str) -> Path | None:
        """The image file ``name`` names, inside the folder, or None."""
        return self.finder.find(unquote(name), self.source)

    def __call__(self, name: str) -> str | None:
        """The image as a data URI, or None (not in the folder, not an image, too big)."""
        path = self.path(name)
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if len(data) > MAX_IMAGE_BYTES:
            return None
        kind = IMAGE_TYPES[path.suffix.lower()]
        return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


class NoteLinks:
    """What the passages of one notes folder may open and draw: the notes its [[links]]
    name (``markdown_html.note_names``) and its images. Listed once, on first use; a new
    one is made when the folder is re-indexed."""

    def __init__(self, notes_dir: Path, sources: Iterable[str]) -> None:
        from assistant.web.markdown_html import note_names

        self.notes_dir = Path(notes_dir)
        self.notes = note_names(sources)
        self._finder = ImageFinder(self.notes_dir, tuple(IMAGE_TYPES))

    def images(self, source: str) -> NoteImages:
        """The image resolver of the note ``source`` (its relative paths start there)."""
        return NoteImages(self.notes_dir, source, self._finder)
