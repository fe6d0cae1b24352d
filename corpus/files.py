"""Files written whole or not at all, file hashes, and the path checks every writer shares.

An artefact (index, results, adapter data) is written to a temp file in its own folder,
fsynced, then renamed over the target: a killed process leaves the previous file intact.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from corpus.errors import SettingsError


def file_sha256(path) -> str:
    """sha256 of a file's bytes (what a note's ``sha256`` and artefact provenance record)."""
    # 1 MiB at a time: an index's vectors can be hundreds of MB, hashed at every load.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _file_mode() -> int:
    """The mode open() would give a new file: mkstemp's temp files are 0600, and a renamed
    results.json or report.md should be as readable as any other file the user writes."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def resolves_inside(path: str | Path, folder: str | Path) -> bool:
    """True when ``path``, with every link followed, is ``folder`` or lies under it.

    The one test of "is this inside the notes folder" that the loader (a link to a file
    elsewhere is not a note) and the app's note preview both apply, so they always agree.
    """
    target, root = Path(path).resolve(), Path(folder).resolve()
    return target == root or root in target.parents


def check_output_path(
    out: str | Path, flag: str, inputs: dict[str, str | Path | None], folder: bool = False
) -> Path:
    """``out`` (the value of option ``flag``) unless writing it could touch an input.

    ``inputs`` names each input for the message ("preguntas") and gives its path (None
    when the run has none). Refused: ``out`` is an input, or lies inside an input folder
    (notes, index, adapter); with ``folder=True`` (a folder of results), also an input
    lying inside ``out``. Links are followed, so a link to the question file is caught.
    """
    target = Path(out).expanduser().resolve()
    for name, given in inputs.items():
        if given is None:
            continue
        source = Path(given).expanduser().resolve()
        if target == source or source in target.parents or (folder and target in source.parents):
            raise SettingsError(
                f"{flag} {out} escribiría sobre una entrada ({name}: {given}): elige otra ruta"
            )
    return Path(out)
