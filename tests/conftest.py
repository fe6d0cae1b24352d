from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index import embedders
from index.config import IndexConfig
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
