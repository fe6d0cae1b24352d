"""Changing the notes folder on the student's request: add, delete, list with chunk counts.

Nothing here runs unless the student asks (the app's Notes tab); indexing stays in
index.store. An upload is checked with the same loader the index uses before it is
written, is written atomically, and never replaces an existing note unless asked to. A
deleted note goes to a hidden ``.papelera`` folder inside the notes folder (the loader
skips hidden folders), so a wrong click can be undone by hand.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from corpus.config import ChunkConfig
from corpus.errors import NotesError
from corpus.files import file_sha256
from corpus.loader import iter_note_paths, load_notes

TRASH = ".papelera"
MAX_NAME_CHARS = 100  # characters of the stem; long names wrap badly in the notes table
_UNSAFE = re.compile(r"[^\w\-. ()]+", re.UNICODE)


class NoteExistsError(NotesError):
    """An upload would replace a note of the same name."""


@dataclass(frozen=True)
class NoteInfo:
    source: str  # path relative to the notes folder, as the index names it
    size_bytes: int
    chunks: int | None  # None: not in the index yet, or changed since it was built


def sanitize_filename(name: str, config: ChunkConfig | None = None) -> str:
    """A safe file name for an uploaded note: no folders, no hidden files, no odd characters.

    "../../etc/Mis apuntes?.MD" -> "Mis apuntes_.md". Raises NotesError when nothing usable
    is left or the type is not one the loader reads.
    """
    config = config or ChunkConfig()
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    stem, dot, suffix = name.rpartition(".")
    if not dot or f".{suffix.lower()}" not in config.suffixes:
        allowed = ", ".join(config.suffixes)
        raise NotesError(f"{name or '(sin nombre)'}: tipo de archivo no admitido; usa {allowed}")
    stem = " ".join(_UNSAFE.sub("_", stem).split()).lstrip(".-_ ")[:MAX_NAME_CHARS].rstrip(". ")
    if not stem:
        raise NotesError(
            f"{name}: el nombre no tiene letras ni números; cámbialo y vuelve a subirlo"
        )
    return f"{stem}.{suffix.lower()}"


def _check_usable(name: str, data: bytes, config: ChunkConfig) -> None:
    """Raise NotesError unless the index's own loader would read this file."""
    with tempfile.TemporaryDirectory(prefix="note-check-") as folder:
        (Path(folder) / name).write_bytes(data)
        # A usable companion note keeps load_notes from raising, so the file's own warning
        # ("NAME: why, se omite") comes back in the result. "~" never survives sanitizing.
        (Path(folder) / "~companion.txt").write_text(uuid.uuid4().hex, encoding="utf-8")
        warnings = [w for w in load_notes(folder, config).warnings if w.startswith(f"{name}: ")]
    if warnings:
        reason = warnings[0].removeprefix(f"{name}: ").removesuffix(", se omite")
        raise NotesError(f"{name}: {reason}")


def save_note(
    notes_dir: str | Path,
    filename: str,
    data: bytes,
    replace: bool = False,
    config: ChunkConfig | None = None,
) -> Path:
    """Write an uploaded note into ``notes_dir`` and return its path.

    Raises NoteExistsError when a note of that name exists and ``replace`` is False, and
    NotesError when the file is of the wrong type, too large, unreadable, or a copy of a
    note already there.
    """
    config = config or ChunkConfig()
    notes_dir = Path(notes_dir)
    if not notes_dir.is_dir():
        raise NotesError(f"No existe la carpeta de notas: {notes_dir}")
    name = sanitize_filename(filename, config)
    target = notes_dir / name
    if target.exists() and not replace:
        raise NoteExistsError(
            f"Ya hay una nota llamada {name}: marca «Reemplazar si ya existe» o cambia el nombre"
        )
    _check_usable(name, data, config)
    digest = hashlib.sha256(data).hexdigest()
    for path in iter_note_paths(notes_dir, config)[0]:
        if path != target and file_sha256(path) == digest:
            raise NotesError(
                f"{name} es idéntica a {path.relative_to(notes_dir).as_posix()}, que ya está en tus notas"
            )

    staging = notes_dir / f".subida-{uuid.uuid4().hex[:8]}{target.suffix}"  # hidden: never indexed
    staging.write_bytes(data)
    try:
        if replace:
            os.replace(staging, target)
        else:
            os.link(staging, target)  # fails if the name was taken meanwhile: no overwrite
    except FileExistsError:
        raise NoteExistsError(f"Ya hay una nota llamada {name}; vuelve a intentarlo") from None
    finally:
        staging.unlink(missing_ok=True)
    return target


def delete_note(notes_dir: str | Path, source: str, config: ChunkConfig | None = None) -> Path:
    """Move the note ``source`` (as listed by ``list_notes``) to the hidden trash folder.

    Returns where it went. Refuses paths outside the folder and the last note, since an
    index needs at least one.
    """
    config = config or ChunkConfig()
    notes_dir = Path(notes_dir).resolve()
    notes = {
        path.relative_to(notes_dir).as_posix(): path
        for path in iter_note_paths(notes_dir, config)[0]
    }
    if source not in notes:
        raise NotesError(f"No hay ninguna nota {source!r} en {notes_dir}")
    if len(notes) == 1:
        raise NotesError(f"{source} es tu única nota: sube otra antes de borrarla")
    trash = notes_dir / TRASH
    trash.mkdir(exist_ok=True)
    path = notes[source]
    destination = trash / path.name
    if destination.exists():
        destination = trash / f"{path.stem}.{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}"
    os.replace(path, destination)
    return destination


def list_notes(
    notes_dir: str | Path, manifest: dict | None = None, config: ChunkConfig | None = None
) -> list[NoteInfo]:
    """The notes in the folder, with their chunk counts from an index manifest.

    A note whose content differs from what the index saw gets ``chunks=None``.
    """
    notes_dir = Path(notes_dir)
    indexed = (manifest or {}).get("notes", {})
    rows = []
    for path in iter_note_paths(notes_dir, config or ChunkConfig())[0]:
        source = path.relative_to(notes_dir).as_posix()
        entry = indexed.get(source)
        fresh = entry is not None and entry.get("sha256") == file_sha256(path)
        rows.append(NoteInfo(source, path.stat().st_size, entry["chunks"] if fresh else None))
    return rows
