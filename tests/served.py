"""The app served in this test process, as main() serves it (app.launch), over a copy of
the default notes with the fake embedder: what the browser and API tests drive. The
models are whatever the caller hands in (a scripted generator, or one that must not be
called); Gradio's files go to the work folder."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import app as study_app
from index import embedders
from index.config import IndexConfig
from index.store import build_index
from tests.conftest import NOTES
from tests.fakes import HashEmbedder, OverlapChecker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """Terminate a server started by a test; kill it if it will not go."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def served_app(
    work: Path,
    make_assistant: Callable,
    auth: tuple[str, str] | None = None,
    experiments=None,
    notes: Path = NOTES,
    **launch_options,
) -> Iterator[tuple[str, study_app.StudyApp]]:
    """(url, the app): notes, index, deck, study, chat and experiment folders, and
    Gradio's temporary root, all under ``work``; behind ``auth`` when given; closed on
    exit. ``experiments``: the app's ExperimentWorker (a scripted child); ``launch_options``
    go to app.launch (a login throttle with the test's clock); ``notes`` is copied in
    (the default notes unless given)."""
    shutil.copytree(notes, work / "notes")
    fake = HashEmbedder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(embedders.EMBEDDERS, fake.name, lambda: fake)
        patch.setitem(embedders._loaded, fake.name, fake)
        patch.setenv("GRADIO_TEMP_DIR", str(work / "gradio"))
        build_index(work / "notes", work / "index", index_config=IndexConfig(embedder=fake.name))
        app = study_app.StudyApp(
            work / "notes",
            work / "index",
            make_assistant,
            experiments,
            experiments_dir=work / "experiments",
            deck_path=work / "deck.sqlite",
            make_checker=OverlapChecker,
            study_dir=work / "study",
            chat_dir=work / "chat",
        )
        port = free_port()
        demo = study_app.launch(app, "127.0.0.1", port, auth=auth, block=False, **launch_options)
        try:
            yield f"http://127.0.0.1:{port}/", app
        finally:
            app.experiments.cancel()
            demo.close()
