"""Fault injection on the served app: the rows of the fault table (tests/test_faults.py
holds the files', options' and processes' rows) that need a client over HTTP.

One app is served in this process (tests/served.py: the fake embedder, a scripted
generator) behind a password, and every row meets it as a client other than the page
would: gradio_client (logged in) or raw HTTP (not logged in). Each row asserts the
sensible result, that nothing outside the notes folder changed, and that a user's
mistake is one line in the app's log, never a traceback (issue 15, items 11-13, and the
cases that already passed: auth on every route, oversize uploads, traversal names)."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

import app as study_app
from assistant.web.login import LoginThrottle
from assistant.web.notes_admin import list_trash
from assistant.web.uploads import discard_upload, upload_dir_for, use_upload_dir
from index import embedders
from tests.fakes import scripted_worker
from tests.served import served_app
from tests.test_app import QUESTION, SETTINGS, fake_factory

pytestmark = pytest.mark.slow

AUTH = ("ana", "secreto")
RAG_NOTE = "# RAG\n\nLa recuperación aumentada con generación (RAG) combina pasajes y texto.\n"
# Routes a visitor who is not logged in may read: the login page and its assets, and
# Gradio's bits that hold nothing of the notes. Every other route must refuse.
PUBLIC = {
    "/",
    "/favicon.ico",
    "/theme.css",
    "/robots.txt",
    "/manifest.json",
    "/openapi.json",  # FastAPI's list of routes: names, no notes (see the closing note)
    "/gradio_api/app_id",
    "/gradio_api/startup-events",
    "/gradio_api/theme.css",
    "/gradio_api/token",
    "/gradio_api/user",
}
REFUSED = {401, 403, 404, 405, 422, 302}  # 422: a body is checked before the login, then 401
STREAMS = {"/gradio_api/heartbeat/{session_hash}"}  # an open stream: it never answers


class Clock:
    """The login throttle's clock, moved by hand: a row waits out a lockout at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    url: str
    app: study_app.StudyApp
    work: Path
    client: Client
    throttle: LoginThrottle
    clock: Clock

    @property
    def notes(self) -> Path:
        return self.work / "notes"

    def sources(self) -> set[str]:
        return {chunk.source for chunk in self.app.index.chunks}

    def uploads_left(self) -> list[Path]:
        return [p for p in Path(os.environ["GRADIO_TEMP_DIR"]).rglob("*") if p.is_file()]

    @contextmanager
    def logged_in(self) -> Iterator[httpx.Client]:
        """Raw HTTP as a logged-in visitor (Gradio's login sets a cookie)."""
        with httpx.Client(base_url=self.url, timeout=120) as http:
            response = http.post("login", data={"username": AUTH[0], "password": AUTH[1]})
            assert response.status_code == 200, response.text
            yield http

    def outside_notes(self) -> dict[str, bytes]:
        """Every file of the work folder but the notes, the index and Gradio's: what a row
        must leave as it was."""
        skip = ("notes", "index", "gradio", "study", "deck.sqlite", "experiments")
        return {
            p.relative_to(self.work).as_posix(): p.read_bytes()
            for p in self.work.rglob("*")
            if p.is_file() and not p.relative_to(self.work).as_posix().startswith(skip)
        }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("served-faults")
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    endless = scripted_worker("endless")  # an experiment runs until it is cancelled
    with served_app(
        work, fake_factory(), auth=AUTH, experiments=endless, login_throttle=throttle
    ) as (url, app):
        yield Served(url, app, work, Client(url, auth=AUTH, verbose=False), throttle, clock)


@pytest.fixture
def app_log():
    """The lines the app logs while the row runs (its own logger, whatever main() set)."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    level = study_app.log.level
    study_app.log.addHandler(handler)
    study_app.log.setLevel(logging.INFO)
    yield lines
    study_app.log.removeHandler(handler)
    study_app.log.setLevel(level)


@dataclass
class Row:
    served: Served
    tmp: Path
    log: list[str]

    def upload(self, name: str, data: bytes) -> str:
        path = self.tmp / name
        path.write_bytes(data)
        return self.served.client.predict([handle_file(str(path))], False, api_name="/upload")

    def refused(self, name: str, data: bytes) -> None:
        """An upload the app refuses: the error names the file, one log line, no copy."""
        notes_before = {p.name: p.read_bytes() for p in self.served.notes.iterdir() if p.is_file()}
        with pytest.raises(Exception, match=re.escape(name)):
            self.upload(name, data)
        assert len(self.log) == 1 and self.log[0].startswith("error de usuario: "), self.log
        assert name in self.log[0]
        assert self.served.uploads_left() == []
        assert {
            p.name: p.read_bytes() for p in self.served.notes.iterdir() if p.is_file()
        } == notes_before


# -- the rows -------------------------------------------------------------------------------


def _upload_is_searchable_at_once(row: Row) -> None:  # 12, and 11 for a saved upload
    status = row.upload("rag.md", RAG_NOTE.encode())
    assert status.startswith("Añadidas: rag.md.\nÍndice listo:"), status
    assert "rag.md" in row.served.sources()
    assert (row.served.notes / "rag.md").read_text(encoding="utf-8") == RAG_NOTE
    assert row.served.uploads_left() == [] and (row.tmp / "rag.md").exists()
    status = row.served.client.predict("rag.md", api_name="/delete")[0]
    assert "rag.md movida a la papelera" in status and "Quitadas: rag.md" in status
    assert "rag.md" not in row.served.sources()


def _delete_outside_the_notes(row: Row) -> None:
    with pytest.raises(Exception, match="passwd"):
        row.served.client.predict("../../../etc/passwd", api_name="/delete")
    assert len(row.log) == 1 and Path("/etc/passwd").exists()


def _over_the_size_limit(row: Row) -> None:  # Gradio's max_file_size, while it streams
    too_big = b"a" * (50 * 1024 * 1024 + 1)
    with row.served.logged_in() as http:
        response = http.post("gradio_api/upload", files={"files": ("grande.md", too_big)})
    assert response.status_code == 413
    assert row.served.uploads_left() == []


def _traversal_name(row: Row) -> None:
    """A name that climbs out: Gradio keeps its last part, inside its folder; saved, the
    note lands inside the notes folder under its sanitized name."""
    with row.served.logged_in() as http:
        response = http.post(
            "gradio_api/upload", files={"files": ("../../../fuera.md", RAG_NOTE.encode())}
        )
    (path,) = response.json()
    assert Path(path).name == "fuera.md"
    assert Path(path).resolve().is_relative_to(Path(os.environ["GRADIO_TEMP_DIR"]).resolve())
    assert discard_upload(path)
    status = row.upload("..%2F..%2Ffuera.md", RAG_NOTE.encode())
    assert "Añadidas:" in status and not (row.served.work / "fuera.md").exists()
    saved = [p for p in row.served.notes.iterdir() if "fuera" in p.name]
    assert len(saved) == 1 and saved[0].parent == row.served.notes
    row.served.client.predict(saved[0].name, api_name="/delete")


def _auth_on_every_route(row: Row) -> None:
    """Not logged in, every route the server lists refuses, but for PUBLIC; nothing a
    visitor reads holds a note's name."""
    url = row.served.url.rstrip("/")
    spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
    seen = 0
    for path, operations in spec["paths"].items():
        if path in STREAMS:
            continue
        filled = re.sub(r"\{[^}]+\}", "x", path)
        for method in operations:
            response = httpx.request(
                method.upper(), url + filled, json={} if method == "post" else None, timeout=30
            )
            seen += 1
            if path.rstrip("/") in PUBLIC or path in PUBLIC:
                assert "teacher_forcing" not in response.text, path
            else:
                assert response.status_code in REFUSED, (method, path, response.status_code)
    assert seen > 50  # the server's whole list, not a few routes
    for private in ("config", "gradio_api/info", "gradio_api/upload", "gradio_api/queue/join"):
        method = "POST" if private.endswith(("upload", "join")) else "GET"
        assert httpx.request(method, f"{url}/{private}", timeout=30).status_code == 401


def _folder_emptied_at_start(row: Row) -> None:  # 11: what a previous run left
    current = os.environ["GRADIO_TEMP_DIR"]
    os.environ["GRADIO_TEMP_DIR"] = str(row.tmp / "gradio")  # another Gradio root
    try:
        folder = upload_dir_for(7861)
        assert folder == row.tmp / "gradio" / "study-assistant-7861"
        (folder / "abc").mkdir(parents=True)
        (folder / "abc" / "rechazado.md").write_bytes(b"x" * 1000)
        other_app = row.tmp / "gradio" / "otra-app.txt"
        other_app.write_text("de otra app", encoding="utf-8")
        use_upload_dir(folder)
        assert list(folder.iterdir()) == [] and other_app.exists()
        assert os.environ["GRADIO_TEMP_DIR"] == str(folder)
    finally:
        os.environ["GRADIO_TEMP_DIR"] = current
    outside = row.tmp / "mis-notas.md"
    outside.write_text("mía", encoding="utf-8")
    link = Path(current) / "enlace.md"
    link.symlink_to(outside)
    try:
        assert not discard_upload(outside) and not discard_upload(link) and outside.exists()
    finally:
        link.unlink()


def _login_brute_force(row: Row) -> None:  # issue 23, item 7
    """50 wrong passwords in a row: 3 free, then a wait that doubles, then a lockout; a
    try in the wait is refused before its password is looked at (the right one too), and
    each counted failure is one log line."""
    throttle, clock, me = row.served.throttle, row.served.clock, "127.0.0.1"
    with httpx.Client(base_url=row.served.url, timeout=60) as http:

        def login(password: str) -> httpx.Response:
            return http.post("login", data={"username": AUTH[0], "password": password})

        codes = [login(f"mal-{i}").status_code for i in range(50)]
        assert codes == [400] * 4 + [429] * 46, codes
        refused = login(AUTH[1])
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert "espera 1 s" in refused.json()["detail"]
        waits = []
        while (wait := throttle.wait(me)) < 60:  # wait out each delay, fail again
            waits.append(wait)
            clock.now += wait
            assert login("mal").status_code == 400
        assert waits == [1, 2, 4, 8, 16, 32] and wait == 900  # the 10th: locked out
        clock.now += 899
        assert login(AUTH[1]).status_code == 429
        clock.now += 1
        assert login(AUTH[1]).status_code == 200 and throttle.wait(me) == 0
    assert len(row.log) == 7 and all(line.startswith("login: ") for line in row.log), row.log
    assert "10 contraseñas incorrectas desde 127.0.0.1: bloqueado 900 s" in row.log[-1]


def _upload_and_delete_at_once(row: Row) -> None:  # issue 23, item 14
    """Two browsers: one uploads a note, the other deletes one while the upload's
    re-index holds the index (held there, inside the index's lock, until the delete has
    moved its note to the trash). Both succeed, and the index ends as the folder is: the
    new note in, the deleted one out."""
    import index.store as store

    trash = row.served.notes / ".papelera"
    building, real_write = threading.Event(), store._write_version

    def held_write(*args, **kwargs):
        if not building.is_set():  # the upload's build: wait for the delete's move
            building.set()
            deadline = time.monotonic() + 60
            while not (trash / "teacher_forcing.md").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return real_write(*args, **kwargs)

    note = row.tmp / "rag.md"
    note.write_text(RAG_NOTE, encoding="utf-8")
    other = Client(row.served.url, auth=AUTH, verbose=False)  # the second browser
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "_write_version", held_write)
        upload = row.served.client.submit([handle_file(str(note))], False, api_name="/upload")
        assert building.wait(60), "the upload's re-index never started"
        deleted = other.predict("teacher_forcing.md", api_name="/delete")[0]
        uploaded = upload.result(timeout=120)
    try:
        assert uploaded.startswith("Añadidas: rag.md.\nÍndice listo:"), uploaded
        assert "teacher_forcing.md movida a la papelera" in deleted, deleted
        assert "Quitadas: teacher_forcing.md" in deleted, deleted
        assert "rag.md" in row.served.sources()
        assert "teacher_forcing.md" not in row.served.sources()
        hits = row.served.app.index.search("teacher forcing", k=10)
        assert all(hit.chunk.source != "teacher_forcing.md" for hit in hits)
        assert row.log == []  # no user error on either side
    finally:  # the notes as the other rows expect them
        trashed = next(
            n.name for n in list_trash(row.served.notes) if n.source == "teacher_forcing.md"
        )
        row.served.app.restore(trashed, progress=lambda *a, **k: None)
        row.served.client.predict("rag.md", api_name="/delete")
        other.close()


def _experiment_beside_chats(row: Row) -> None:  # issue 23, item 6
    """An experiment from one browser (its child at 100% of a core until cancelled): a
    chat from another answers meanwhile; a second run, or one over the size limit, is
    refused; cancel kills the child."""
    import psutil

    app, other = row.served.app, Client(row.served.url, auth=AUTH, verbose=False)
    grid = (["zero-shot"], ["gemma-270m"], 10)
    job = row.served.client.submit(*grid, api_name="/experiment")
    deadline = time.monotonic() + 120
    while (run := app.experiments.worker.running) is None or run.last is None:
        assert time.monotonic() < deadline and not job.done(), "the experiment never started"
        time.sleep(0.05)
    child = psutil.Process(run.process.pid)
    try:
        _, chat, _ = other.predict(QUESTION, *SETTINGS, api_name="/ask")
        assert "Teacher Forcing" in str(chat[-1]["content"])
        assert app.experiments.worker.running is run and child.is_running()  # the run goes on
        with pytest.raises(Exception, match="Ya hay un experimento en marcha"):
            other.predict(*grid, api_name="/experiment")
        with pytest.raises(Exception, match="el máximo es 120"):
            other.predict(["zero-shot", "cot:1"], ["gemma-270m"], 500, api_name="/experiment")
        assert other.predict(api_name="/cancel_experiment") == "Experimento cancelado."
        status, *_ = job.result(timeout=60)
    finally:
        other.close()
    assert status.startswith("Experimento cancelado"), status
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert app.experiments.worker.running is None
    assert [line.split(":")[0] for line in row.log] == [
        "error de usuario",
        "error de usuario",
        "experimento cancelado",
    ], row.log


def _answers_during_a_reindex(row: Row) -> None:  # issue 24, item 2
    """A re-index of a large folder (its embedding slowed down) runs from one browser; a
    chat from another answers meanwhile, on the index as it was; the new notes are
    searchable once the finished build is swapped in."""
    app = row.served.app
    fake = embedders.get_embedder(app.index.config.embedder)
    real, embedding = fake.embed_passages, threading.Event()

    def slow(texts):
        embedding.set()
        time.sleep(0.05 * len(texts))  # 120 new chunks: about 6 s of embedding
        return real(texts)

    extra = [row.served.notes / f"tema_{i:03}.md" for i in range(120)]
    for i, path in enumerate(extra):
        path.write_text(f"# Tema {i}\n\nEl tema {i} trata del término zorblax{i}.\n", "utf-8")
    other = Client(row.served.url, auth=AUTH, verbose=False)  # the second browser
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fake, "embed_passages", slow)
            job = row.served.client.submit(api_name="/reindex")
            assert embedding.wait(60), "the re-index never started embedding"
            _, chat, _ = other.predict(QUESTION, *SETTINGS, api_name="/ask")
            assert not job.done(), "the chat waited for the re-index"
            assert "Teacher Forcing" in str(chat[-1]["content"])
            assert "tema_000.md" not in row.served.sources()  # the old index, until the swap
            status = job.result(timeout=120)
        assert status.startswith("Índice listo: "), status
        assert "tema_000.md" in row.served.sources()
        assert app.index.search("zorblax7", k=1)[0].chunk.source == "tema_007.md"
    finally:  # the notes as the other rows expect them
        for path in extra:
            path.unlink(missing_ok=True)
        app.reindex(progress=lambda *a, **k: None)
        other.close()


FAULTS: dict[str, Callable[[Row], None]] = {
    "answers_during_a_reindex": _answers_during_a_reindex,
    "experiment_beside_chats": _experiment_beside_chats,
    "upload_and_delete_at_once": _upload_and_delete_at_once,
    "login_brute_force": _login_brute_force,
    "api_upload_and_delete_reindex_in_the_call": _upload_is_searchable_at_once,
    # 11 and 13: refused uploads leave no copy, and are one log line, no traceback.
    "api_upload_binary": lambda row: row.refused("binario.md", b"\x00\x01\x02 no es texto"),
    "api_upload_wrong_type": lambda row: row.refused("programa.exe", b"MZ\x90\x00"),
    "api_upload_duplicate_name": lambda row: row.refused(
        "teacher_forcing.md", b"# Otra\n\nOtra nota con el mismo nombre.\n"
    ),
    "api_upload_too_large_for_a_note": lambda row: row.refused(
        "enorme.md", b"palabra " * (6 * 1024 * 1024 // 8)
    ),
    "api_delete_outside_the_notes": _delete_outside_the_notes,
    "upload_over_the_size_limit": _over_the_size_limit,
    "upload_traversal_name": _traversal_name,
    "auth_on_every_route": _auth_on_every_route,
    "upload_folder_emptied_at_start": _folder_emptied_at_start,
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_a_served_fault_ends_in_a_sensible_result(name, served, tmp_path, app_log, capfd):
    before = served.outside_notes()
    capfd.readouterr()
    FAULTS[name](Row(served, tmp_path, app_log))
    server_log = capfd.readouterr().err
    assert "Traceback" not in server_log, server_log
    assert served.outside_notes() == before, "a file outside the notes changed"
