from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index import embedders
from index.config import IndexConfig
from tests.browser import headless_chromium
from tests.fakes import HashEmbedder

ROOT = Path(__file__).resolve().parents[1]

NOTES = ROOT / "corpus" / "notes"
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
