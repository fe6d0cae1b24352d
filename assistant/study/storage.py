"""The deck's file: where it lives, whether SQLite can read it, and its backup.

The backup is ``<deck>.bak``, a whole copy made with SQLite's backup API into a temp file
in the same folder and renamed over the old one, so a crash while copying leaves the
previous backup intact. ``restore_backup`` puts it back over a damaged deck.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from corpus.errors import AssistantError
from corpus.files import FILE_MODE


class DeckError(AssistantError):
    """The deck file cannot be used: missing, in the notes folder, not a deck, too new."""


class DeckCorruptError(DeckError):
    """The deck file is damaged; ``restore_backup`` puts back its last good state."""


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def check_deck_path(deck: str | Path, notes_dir: str | Path) -> None:
    """A deck inside the notes folder would be read as a note and moved with them."""
    deck_path = Path(deck).expanduser().resolve()
    notes = Path(notes_dir).expanduser().resolve()
    if deck_path == notes or notes in deck_path.parents:
        raise DeckError(
            f"El mazo no puede guardarse dentro de la carpeta de notas ({notes}): "
            "indica --deck con una ruta fuera de ella"
        )


SQLITE_HEADER = b"SQLite format 3\x00"


def is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def corrupt_message(path: Path, err: Exception) -> str:
    """One line: what is wrong with the deck and how to get it back. A file that is not
    SQLite at all and has no deck backup beside it is not ours (a thesis given as --deck
    by mistake): it is never called a damaged deck, nor advised to be deleted."""
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    if not backup_path(path).exists() and not is_sqlite_file(path):
        return (
            f"{path} no es un mazo de estudio (no es una base de datos SQLite); no se ha "
            "tocado: indica con --deck un mazo creado con `cards build`, o una ruta nueva"
        )
    if backup_path(path).exists():
        return (
            f"El mazo {path} está dañado ({reason}); recupera la última copia buena con "
            f"`python -m assistant cards restore --deck {path}`"
        )
    return (
        f"El mazo {path} está dañado ({reason}) y no tiene copia de seguridad: bórralo y "
        "créalo de nuevo con `cards build` (se pierde el historial de repasos)"
    )


def check_integrity(connection: sqlite3.Connection) -> set[str]:
    """The tables of a readable SQLite file; raises sqlite3.DatabaseError otherwise
    (garbage bytes fail here: "file is not a database")."""
    verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise sqlite3.DatabaseError(verdict)
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows}


def copy_database(source: sqlite3.Connection, target: Path) -> Path:
    """A consistent copy of ``source`` at ``target`` (backup API, temp file, rename)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.fchmod(fd, FILE_MODE)  # mkstemp's 0600 would stick to the copy
    os.close(fd)
    try:
        copy = sqlite3.connect(tmp)
        try:
            with copy:
                source.backup(copy)
        finally:
            copy.close()
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def restore_backup(path: str | Path) -> Path:
    """Put the last good copy back over a damaged deck; the damaged file (and any journal
    SQLite would replay onto the copy) is kept beside it as ``.damaged``."""
    path = Path(path).expanduser()
    backup = backup_path(path)
    if not backup.exists():
        raise DeckError(f"No hay copia de seguridad del mazo {path} ({backup} no existe)")
    source = sqlite3.connect(backup)
    try:
        try:
            check_integrity(source)
        except sqlite3.DatabaseError as err:
            raise DeckCorruptError(f"La copia {backup} también está dañada ({err})") from None
        for damaged in (path, path.with_name(path.name + "-journal")):
            if damaged.exists():
                os.replace(damaged, damaged.with_name(damaged.name + ".damaged"))
        copy_database(source, path)
    finally:
        source.close()
    return path
