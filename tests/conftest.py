from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from index import embedders
from index.config import IndexConfig
from tests.browser import headless_chromium
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parents[1]


def tracked_notes(root: Path, target: Path) -> Path:
    """Copy the notes the repository at ``root`` tracks (``corpus/notes``) to ``target``.

    Never what a user of the app leaves beside them: a deleted note in the trash
    (``.papelera/``), a note they added, a deck. Outside a git checkout (an exported
    tarball) every file but hidden ones is taken."""
    source = root / "corpus" / "notes"
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--", "corpus/notes"],
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8")
        names = [Path(name).relative_to("corpus/notes") for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        names = [
            path.relative_to(source)
            for path in source.rglob("*")
            if path.is_file() and not any(p.startswith(".") for p in path.relative_to(source).parts)
        ]
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target / name)
    return target


def _session_notes() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="tracked-notes-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return tracked_notes(ROOT, folder / "notes")


# The default notes for every test: the tracked ones, copied once per session.
NOTES = _session_notes()
DEV_SET = ROOT / "eval" / "data" / "notes_dev.jsonl"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Embedding caches and default indexes go to a temp folder, never the user's home."""
    patch = pytest.MonkeyPatch()
    patch.setenv("STUDY_ASSISTANT_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()


@pytest.fixture
def fake_embedder(monkeypatch) -> HashEmbedder:
    """Registers a fresh HashEmbedder as 'fake-hash' and returns it (to count calls)."""
    fake = HashEmbedder()
    monkeypatch.setitem(embedders.EMBEDDERS, fake.name, lambda: fake)
    monkeypatch.setitem(embedders._loaded, fake.name, fake)
    return fake


@pytest.fixture
def backs(fake_embedder, tmp_path, monkeypatch):
    """The fake embedder's vectors of the cards' backs, also where ``quiz.multiple_choice``
    looks by default (the distractors are the nearest backs)."""
    from assistant.study import quiz

    fake = quiz.BackVectors(fake_embedder.name, tmp_path)
    monkeypatch.setattr(quiz, "back_vectors", lambda embedder="e5-small": fake)
    return fake


@pytest.fixture
def fake_config() -> IndexConfig:
    return IndexConfig(embedder=HashEmbedder.name)


@pytest.fixture
def notes_copy(tmp_path) -> Path:
    """A writable copy of the default notes."""
    target = tmp_path / "notes"
    shutil.copytree(NOTES, target)
    return target


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, for one module's browser tests; without it they fail
    (tests/browser.py). Name it before a module fixture that starts an app: fixtures of
    one scope are set up in the order the test names them, so a missing browser fails
    before the app's minutes of start-up."""
    with headless_chromium() as chromium:
        yield chromium
