"""Notebooks: one notes folder per subject, each with its own index, study deck, trash and
conversations, listed by name in a small registry.

The registry is ``notebooks.json`` in the data folder (``default_cache_dir``), written
atomically (temp file, then rename) under a lock, so a crash never leaves it half
written. The default notebook, ``DEFAULT_NAME``, is the project's ``corpus/notes``; it is
always there and cannot be removed. What a notebook owns is found from its folder: the
index and the deck live in the cache under a hash of the folder's path (``corpus.paths``),
the trash is the folder's hidden ``.papelera``, and the app keeps each notebook's
conversation apart in the browser. Removing a notebook only forgets its name: its folder,
and its index and deck in the cache, stay as they were (adding the folder again finds its
reviews).

    notebooks = Notebooks()
    notebooks.add("historia", "~/apuntes/historia")
    notebooks.get("historia").index_dir
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import AssistantError
from corpus.files import atomic_write_text
from corpus.paths import default_cache_dir, default_deck_path, default_index_dir

DEFAULT_NOTES = Path(__file__).resolve().parent / "notes"
DEFAULT_NAME = "notas"
ALL_SCOPE = "todas"  # the chat's scope over every notebook: no notebook may take the name
REGISTRY = "notebooks.json"
_NAME = re.compile(r"^[\w][\w .-]{0,39}$")  # letters (any script), digits, space, . _ -
_lock = threading.Lock()  # two browser tabs never race for the registry


class NotebookError(AssistantError):
    """A notebook name or folder that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Notebook:
    name: str
    notes_dir: Path

    @property
    def index_dir(self) -> Path:
        return default_index_dir(self.notes_dir)

    @property
    def deck_path(self) -> Path:
        return default_deck_path(self.notes_dir)


def check_name(name: str) -> str:
    """The name stripped, or NotebookError saying what a name may hold."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise NotebookError(
            f"nombre de cuaderno no válido {name!r}: usa de 1 a 40 letras, números, "
            "espacios, puntos, guiones o guiones bajos"
        )
    if name.casefold() == ALL_SCOPE:
        raise NotebookError(f"«{ALL_SCOPE}» está reservado para buscar en todos los cuadernos")
    return name


def check_folder(folder: str | Path) -> Path:
    """The folder, resolved; NotebookError when it is not an existing folder."""
    if not str(folder).strip():
        raise NotebookError("indica la carpeta de notas del cuaderno")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise NotebookError(f"{path} no es una carpeta")
    return path.resolve()


class Notebooks:
    """The registry of notebooks: ``path`` (default: notebooks.json in the data folder)."""

    def __init__(self, path: Path | None = None, default_notes: Path = DEFAULT_NOTES) -> None:
        self.path = path or default_cache_dir() / REGISTRY
        self.default = Notebook(DEFAULT_NAME, Path(default_notes).resolve())

    def _read(self) -> dict[str, str]:
        """name -> notes folder, the default first. A damaged registry is an error that
        names the file: it is never overwritten by a guess."""
        entries: dict[str, str] = {self.default.name: str(self.default.notes_dir)}
        if not self.path.is_file():
            return entries
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(stored, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in stored.items()
            ):
                raise ValueError("se esperaba un objeto nombre → carpeta")
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise NotebookError(f"{self.path} está dañado ({err}); arréglalo o bórralo") from None
        entries.update(stored)
        return entries

    def _write(self, entries: dict[str, str]) -> None:
        """The notebooks the user added (the default is never stored: it is the project's)."""
        added = {k: v for k, v in entries.items() if k != self.default.name}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(added, ensure_ascii=False, indent=1))

    def all(self) -> list[Notebook]:
        return [Notebook(name, Path(folder)) for name, folder in self._read().items()]

    def names(self) -> list[str]:
        return [notebook.name for notebook in self.all()]

    def get(self, name: str) -> Notebook:
        entries = self._read()
        found = _find(entries, name)
        if found is None:
            raise NotebookError(
                f"no hay ningún cuaderno {name!r}; los cuadernos son: {', '.join(entries)}"
            )
        return Notebook(found, Path(entries[found]))

    def find_folder(self, folder: str | Path) -> Notebook | None:
        """The notebook whose notes folder is ``folder``, if one is."""
        resolved = Path(folder).expanduser().resolve()
        return next((nb for nb in self.all() if nb.notes_dir == resolved), None)

    def add(self, name: str, folder: str | Path) -> Notebook:
        name, resolved = check_name(name), check_folder(folder)
        with _lock:
            entries = self._read()
            if _find(entries, name) is not None:
                raise NotebookError(f"ya hay un cuaderno {name!r}")
            for other, path in entries.items():
                if Path(path) == resolved:
                    raise NotebookError(f"{resolved} ya es el cuaderno {other!r}")
            entries[name] = str(resolved)
            self._write(entries)
        return Notebook(name, resolved)

    def name_for(self, folder: str | Path) -> str:
        """A name for a new notebook of ``folder``: the folder's, made unique."""
        base = re.sub(r"[^\w .-]", "-", Path(folder).resolve().name)[:36].strip(" .-")
        base = base or "cuaderno"
        names = {name.casefold() for name in self.names()}
        name, n = base, 2
        while name.casefold() in names or name.casefold() == ALL_SCOPE:
            name, n = f"{base}-{n}", n + 1
        return name

    def add_folder(self, folder: str | Path) -> Notebook:
        """The folder's notebook: the one it already is, or a new one named after it."""
        resolved = check_folder(folder)
        if (known := self.find_folder(resolved)) is not None:
            return known
        return self.add(self.name_for(resolved), resolved)

    def rename(self, old: str, new: str) -> Notebook:
        new = check_name(new)
        with _lock:
            entries = self._read()
            found = _find(entries, old)
            if found is None:
                raise NotebookError(f"no hay ningún cuaderno {old!r}")
            if found == self.default.name:
                raise NotebookError(f"el cuaderno por defecto, {found!r}, no se renombra")
            clash = _find(entries, new)
            if clash is not None and clash != found:
                raise NotebookError(f"ya hay un cuaderno {new!r}")
            # Rebuilt in order, so the notebook keeps its place in the list.
            entries = {(new if key == found else key): value for key, value in entries.items()}
            self._write(entries)
        return Notebook(new, Path(entries[new]))

    def remove(self, name: str) -> Notebook:
        """Forget the notebook; its folder (and its index and deck) are left as they are."""
        with _lock:
            entries = self._read()
            found = _find(entries, name)
            if found is None:
                raise NotebookError(f"no hay ningún cuaderno {name!r}")
            if found == self.default.name:
                raise NotebookError(f"el cuaderno por defecto, {found!r}, no se quita")
            removed = Notebook(found, Path(entries.pop(found)))
            self._write(entries)
        return removed


def _find(entries: dict[str, str], name: str) -> str | None:
    """The registry's spelling of ``name``: names are told apart without case."""
    wanted = (name or "").strip().casefold()
    return next((key for key in entries if key.casefold() == wanted), None)
