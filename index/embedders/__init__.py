"""Embedders behind one interface, in a registry keyed by name."""

from __future__ import annotations

from collections.abc import Callable

from corpus.errors import SettingsError
from index.embedders.base import Embedder
from index.embedders.e5 import E5Embedder
from index.embedders.minilm import MiniLMEmbedder

# name -> factory; tests add fakes here.
EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    E5Embedder.name: E5Embedder,
    MiniLMEmbedder.name: MiniLMEmbedder,
}

_loaded: dict[str, Embedder] = {}


def get_embedder(name: str) -> Embedder:
    """The process-wide instance of the named embedder (models load once)."""
    if name not in EMBEDDERS:
        raise SettingsError(f"unknown embedder {name!r}; choose one of {sorted(EMBEDDERS)}")
    if name not in _loaded:
        _loaded[name] = EMBEDDERS[name]()
    return _loaded[name]


__all__ = ["EMBEDDERS", "Embedder", "get_embedder"]
