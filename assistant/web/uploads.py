"""Gradio's copies of uploaded files: where they go, and that none outlives its use.

Gradio writes every upload under its upload folder (GRADIO_TEMP_DIR, by default
/tmp/gradio) before the callback sees it, and never deletes it: a client could fill the
disk with rejected uploads. The app gives Gradio a folder of its own (one per port, so two
apps never share one), empties it at start, and deletes each upload once the callback has
saved or refused it. Gradio itself refuses files over ``max_file_size`` while they stream.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from corpus.errors import AssistantError
from corpus.files import resolves_inside

GRADIO_TEMP_ENV = "GRADIO_TEMP_DIR"


def upload_dir_for(port: int) -> Path:
    """The app's own folder inside Gradio's temporary root (GRADIO_TEMP_DIR when set)."""
    root = os.environ.get(GRADIO_TEMP_ENV) or str(Path(tempfile.gettempdir()) / "gradio")
    return Path(root) / f"study-assistant-{port}"


def use_upload_dir(folder: Path) -> Path:
    """Empty ``folder`` (what a previous run on this port left) and make it Gradio's
    upload folder for this process. Call it before building the Blocks: Gradio reads the
    variable when a Blocks and its server are made."""
    try:
        if folder.is_symlink() or folder.is_file():
            folder.unlink()
        elif folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    except OSError as err:
        raise AssistantError(
            f"No se puede preparar la carpeta temporal de subidas {folder}: {err.strerror}"
        ) from None
    os.environ[GRADIO_TEMP_ENV] = str(folder)
    return folder


def discard_upload(path: str | Path) -> bool:
    """Delete Gradio's copy of an upload (and its folder, once empty). Only files inside
    the current upload folder are touched: a path that came from anywhere else (a test,
    an API caller naming a server file) is left as it is. True when it was deleted."""
    folder = os.environ.get(GRADIO_TEMP_ENV)
    path = Path(path)
    if not folder or path.is_symlink() or not resolves_inside(path, Path(folder)):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    parent = path.parent
    if parent.resolve() != Path(folder).resolve():
        with contextlib.suppress(OSError):  # Gradio's per-upload folder: kept if not empty
            parent.rmdir()
    return True
