"""The app's HTTP API as a client other than the page uses it (issue 15, items 11-13): an
upload or a delete re-indexes in the same call, Gradio's copy of every upload is deleted
whether it was saved or refused (and the folder is emptied at start), and a user's
mistake is one line in the server log, never a traceback.

The app is served in this process (tests/served.py) with the fake embedder and a
scripted generator; the client is gradio_client over loopback, as any script would be."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

import app as study_app
from assistant.uploads import discard_upload, upload_dir_for, use_upload_dir
from tests.served import served_app
from tests.test_app import fake_factory

pytestmark = pytest.mark.slow

RAG_NOTE = "# RAG\n\nLa recuperación aumentada con generación (RAG) combina pasajes y texto.\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("api-app")
    with served_app(work, fake_factory()) as (url, app):
        yield url, app, work


@pytest.fixture(scope="module")
def client(served):
    return Client(served[0], verbose=False)


@pytest.fixture
def app_log():
    """The lines the app logs while the test runs (its own logger, whatever main() set)."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    level = study_app.log.level
    study_app.log.addHandler(handler)
    study_app.log.setLevel(logging.INFO)
    yield lines
    study_app.log.removeHandler(handler)
    study_app.log.setLevel(level)


def uploads_left() -> list[Path]:
    return [p for p in Path(os.environ["GRADIO_TEMP_DIR"]).rglob("*") if p.is_file()]


def sources(app) -> set[str]:
    return {chunk.source for chunk in app.index.chunks}


def test_an_api_upload_is_searchable_at_once_and_leaves_no_copy(served, client, tmp_path):
    url, app, work = served
    note = tmp_path / "rag.md"
    note.write_text(RAG_NOTE, encoding="utf-8")
    status = client.predict([handle_file(str(note))], False, api_name="/upload")
    assert status.startswith("Añadidas: rag.md. Índice listo:"), status
    assert "rag.md" in sources(app)
    assert (work / "notes" / "rag.md").read_text(encoding="utf-8") == RAG_NOTE
    assert uploads_left() == [] and note.exists()

    status = client.predict("rag.md", api_name="/delete")[0]
    assert "rag.md movida a la papelera" in status and "quitadas: rag.md" in status
    assert "rag.md" not in sources(app)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("binario.md", b"\x00\x01\x02 no es texto"),  # refused by the loader
        ("programa.exe", b"MZ\x90\x00"),  # refused by the file component, before the call
        ("teacher_forcing.md", b"# Otra\n\nOtra nota con el mismo nombre.\n"),  # duplicate
    ],
)
def test_a_refused_upload_is_one_log_line_no_traceback_and_no_copy(
    served, client, tmp_path, app_log, capfd, name, data
):
    url, app, work = served
    notes_before = {p.name: p.read_bytes() for p in (work / "notes").glob("*.md")}
    upload = tmp_path / name
    upload.write_bytes(data)
    capfd.readouterr()
    with pytest.raises(Exception, match=name.replace(".", r"\.")):
        client.predict([handle_file(str(upload))], False, api_name="/upload")
    server_log = capfd.readouterr().err
    assert "Traceback" not in server_log, server_log
    assert len(app_log) == 1 and app_log[0].startswith("error de usuario: "), app_log
    assert name in app_log[0]
    assert uploads_left() == []
    assert {p.name: p.read_bytes() for p in (work / "notes").glob("*.md")} == notes_before


def test_an_api_delete_of_a_path_outside_the_notes_is_refused(served, client, app_log):
    url, app, work = served
    with pytest.raises(Exception, match="passwd"):
        client.predict("../../../etc/passwd", api_name="/delete")
    assert len(app_log) == 1 and Path("/etc/passwd").exists()


def test_gradio_refuses_an_upload_over_the_limit_and_keeps_nothing(served):
    url, app, work = served
    too_big = b"a" * (50 * 1024 * 1024 + 1)
    response = httpx.post(
        f"{url}gradio_api/upload", files={"files": ("grande.md", too_big)}, timeout=120
    )
    assert response.status_code == 413
    assert uploads_left() == []


def test_the_upload_folder_is_the_apps_own_and_emptied_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    folder = upload_dir_for(7861)
    assert folder == tmp_path / "gradio" / "study-assistant-7861"
    (folder / "abc").mkdir(parents=True)
    (folder / "abc" / "rechazado.md").write_bytes(b"x" * 1000)
    other_app = tmp_path / "gradio" / "otra-app.txt"
    other_app.write_text("de otra app", encoding="utf-8")
    use_upload_dir(folder)
    assert list(folder.iterdir()) == [] and other_app.exists()
    assert os.environ["GRADIO_TEMP_DIR"] == str(folder)

    (folder / "h1").mkdir()
    (folder / "h1" / "nota.md").write_text("x", encoding="utf-8")
    assert discard_upload(folder / "h1" / "nota.md") and not (folder / "h1").exists()
    outside = tmp_path / "mis-notas.md"
    outside.write_text("mía", encoding="utf-8")
    assert not discard_upload(outside) and outside.exists()
    link = folder / "enlace.md"
    link.symlink_to(outside)
    assert not discard_upload(link) and outside.exists()
