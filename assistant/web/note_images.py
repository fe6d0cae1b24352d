"""The images of a notes folder, as the app may draw them: only files inside the folder
(every link followed: the loader's rule for notes), PNG, JPEG, GIF or WebP, up to
MAX_IMAGE_BYTES, inlined as data URIs so that the page fetches nothing and no route of the
server ever reads the folder.

A name resolves as Obsidian resolves it: a path relative to the note, else a path from
the folder, else the file name alone anywhere in the folder (the shallowest first).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote

from corpus.files import resolves_inside

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
        self, notes_dir: Path, source: str = "", by_name: dict[str, Path] | None = None
    ) -> None:
        """``by_name``: the folder's images by file name, when already listed (NoteLinks
        lists them once for every passage)."""
        self.notes_dir = Path(notes_dir)
        self.note_dir = (self.notes_dir / source).parent if source else self.notes_dir
        self._by_name = by_name

    def _named(self) -> dict[str, Path]:
        if self._by_name is None:
            found = sorted(
                (
                    path
                    for path in self.notes_dir.rglob("*")
                    if path.suffix.lower() in IMAGE_TYPES
                    and not any(p.startswith(".") for p in path.relative_to(self.notes_dir).parts)
                ),
                key=lambda path: (len(path.parts), str(path)),
            )
            self._by_name = {}
            for path in found:
                self._by_name.setdefault(path.name.casefold(), path)
        return self._by_name

    def path(self, name: str) -> Path | None:
        """The image file ``name`` names, inside the folder, or None."""
        name = unquote(name.strip())
        if not name or "://" in name or name.startswith(("data:", "/")):
            return None
        for candidate in (self.note_dir / name, self.notes_dir / name):
            if candidate.suffix.lower() in IMAGE_TYPES and candidate.is_file():
                return candidate if resolves_inside(candidate, self.notes_dir) else None
        found = self._named().get(Path(name).name.casefold())
        return found if found and resolves_inside(found, self.notes_dir) else None

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
        self._images: NoteImages | None = None

    def images(self, source: str) -> NoteImages:
        """The image resolver of the note ``source`` (its relative paths start there)."""
        if self._images is None:
            self._images = NoteImages(self.notes_dir)
            self._images._named()
        return NoteImages(self.notes_dir, source, self._images._named())
