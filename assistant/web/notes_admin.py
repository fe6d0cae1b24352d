"""Changing the notes folder on the student's request: add, delete, list with chunk counts.

Nothing here runs unless the student asks (the app's Notes tab); indexing stays in
index.store, and the app's re-indexes after a change queue in ``ReindexQueue``. An upload is checked with the same loader the index uses before it is
written, is written atomically, and never replaces an existing note unless asked to. A
deleted note, and the old version of a replaced one, go to a hidden ``.papelera`` folder
inside the notes folder (the loader skips hidden folders); ``papelera.json`` there
remembers where each came from, so ``restore_note`` puts it back (the Notes tab's
«Recuperar de la papelera»).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

from corpus.config import ChunkConfig
from corpus.errors import NotesError
from corpus.files import atomic_write_text, file_sha256, resolves_inside
from corpus.loader import iter_note_paths, load_notes

TRASH = ".papelera"
TRASH_INDEX = "papelera.json"  # trash file name -> where it came from, why, when
TrashReason = Literal["borrada", "reemplazada"]
_trash_lock = threading.Lock()  # two browser tabs never race for papelera.json
_FIELDS = ("source", "reason", "when")  # of a papelera.json entry
Built = TypeVar("Built")  # what a ReindexQueue's build returns
MAX_NAME_CHARS = 100  # characters of the stem; long names wrap badly in the notes table
_UNSAFE = re.compile(r"[^\w\-. ()]+", re.UNICODE)


class NoteExistsError(NotesError):
    """An upload would replace a note of the same name."""


@dataclass(frozen=True)
class TrashedNote:
    name: str  # the file's name inside the trash folder
    source: str  # where it was in the notes folder (as list_notes names it)
    reason: TrashReason
    when: str  # local time it went to the trash, "YYYY-MM-DD HH:MM:SS"

    @property
    def label(self) -> str:
        return f"{self.source} ({self.reason} el {self.when})"


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
    if target.is_file() and file_sha256(target) == digest:
        return target  # the same note again: nothing to replace
    for path in iter_note_paths(notes_dir, config)[0]:
        if path != target and file_sha256(path) == digest:
            raise NotesError(
                f"{name} es idéntica a {path.relative_to(notes_dir).as_posix()}, que ya está en tus notas"
            )

    staging = notes_dir / f".subida-{uuid.uuid4().hex[:8]}{target.suffix}"  # hidden: never indexed
    staging.write_bytes(data)
    try:
        if replace:
            if target.is_file():  # the old version stays restorable
                _to_trash(notes_dir, target, name, "reemplazada", keep=True)
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
    return _to_trash(notes_dir, notes[source], source, "borrada")


def _read_trash_index(trash: Path) -> dict[str, dict]:
    try:
        entries = json.loads((trash / TRASH_INDEX).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise NotesError(
            f"{trash / TRASH_INDEX} está dañado ({err}); las notas siguen en {trash}"
        ) from None
    return entries if isinstance(entries, dict) else {}


def _to_trash(
    notes_dir: Path, path: Path, source: str, reason: TrashReason, keep: bool = False
) -> Path:
    """Move (``keep``: copy) the note at ``path`` into the trash, remembering ``source``."""
    trash = notes_dir / TRASH
    with _trash_lock:
        trash.mkdir(exist_ok=True)
        entries = _read_trash_index(trash)
        destination = trash / path.name
        if destination.exists():
            stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
            destination = trash / f"{path.stem}.{stamp}{path.suffix}"
        if keep:
            shutil.copy2(path, destination)
        else:
            os.replace(path, destination)
        entries[destination.name] = asdict(
            TrashedNote(destination.name, source, reason, time.strftime("%Y-%m-%d %H:%M:%S"))
        )
        atomic_write_text(trash / TRASH_INDEX, json.dumps(entries, ensure_ascii=False, indent=1))
    return destination


def list_trash(notes_dir: str | Path, config: ChunkConfig | None = None) -> list[TrashedNote]:
    """What the trash holds, newest first. A file put there by hand (or by an older
    version without papelera.json) came from the top of the notes folder."""
    config = config or ChunkConfig()
    trash = Path(notes_dir) / TRASH
    if not trash.is_dir():
        return []
    entries = _read_trash_index(trash)
    notes = []
    for path in trash.iterdir():
        if not path.is_file() or path.suffix.lower() not in config.suffixes:
            continue
        entry = entries.get(path.name)
        if entry is not None:
            fields = [entry.get(key) if isinstance(entry, dict) else None for key in _FIELDS]
            if not all(isinstance(value, str) for value in fields):
                raise NotesError(
                    f"{trash / TRASH_INDEX} está dañado (la entrada de {path.name}); "
                    f"las notas siguen en {trash}"
                )
            notes.append(TrashedNote(path.name, *fields))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
            notes.append(TrashedNote(path.name, path.name, "borrada", when))
    return sorted(notes, key=lambda note: (note.when, note.name), reverse=True)


def restore_note(notes_dir: str | Path, name: str) -> tuple[str, Path | None]:
    """Put the trash's file ``name`` back where it came from. A note now in its place
    (the newer version of a replaced note) goes to the trash first: a restore never loses
    a note. Returns (the restored note's source, where the displaced note went or None)."""
    notes_dir = Path(notes_dir).resolve()
    trash = notes_dir / TRASH
    by_name = {note.name: note for note in list_trash(notes_dir)}
    if name not in by_name:
        raise NotesError(f"No hay ninguna nota {name!r} en la papelera ({trash})")
    note = by_name[name]
    target = notes_dir / note.source
    if not resolves_inside(target, notes_dir) or TRASH in Path(note.source).parts:
        raise NotesError(f"{note.source}: no está dentro de la carpeta de notas; no se recupera")
    displaced = None
    if target.exists():
        displaced = _to_trash(notes_dir, target, note.source, "reemplazada")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _trash_lock:
        try:
            os.link(trash / name, target)  # fails if the name was taken meanwhile
        except FileExistsError:
            raise NoteExistsError(f"Ya hay una nota {note.source}; vuelve a intentarlo") from None
        (trash / name).unlink()
        entries = _read_trash_index(trash)
        if entries.pop(name, None) is not None:
            atomic_write_text(
                trash / TRASH_INDEX, json.dumps(entries, ensure_ascii=False, indent=1)
            )
    return note.source, displaced


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


class ReindexQueue(Generic[Built]):
    """The app's re-indexes, one at a time, the last one always run.

    Each upload, delete or restore asks for a re-index after changing the folder. Two at
    once from two browsers used to collide on the index's lock ("Otro proceso está
    indexando", though it was the same app) and the loser's change stayed out of the
    index. Here a request waits for the build in progress, then is answered by a build
    that *started after it was asked* (so its change is in): its own, or one it shares
    with requests that queued meanwhile. A failed build answers only its own caller; the
    next in line builds again."""

    def __init__(self) -> None:
        self._building = threading.Lock()  # held for a whole build
        self._counter = threading.Lock()  # guards the numbers below
        self._asked = 0  # requests so far, numbered 1, 2, ...
        self._covered = 0  # the highest request the last finished build covers
        self._last: Built | None = None

    def run(self, build: Callable[[], Built]) -> Built:
        """``build``'s result, or that of a build started after this call."""
        with self._counter:
            self._asked += 1
            mine = self._asked
        with self._building:
            if self._covered >= mine:
                return self._last  # type: ignore[return-value]  (set with _covered)
            with self._counter:
                covers = self._asked  # every request asked so far sees this build's notes
            result = build()
            self._covered, self._last = covers, result
            return result
