"""The index stage's errors: no index, an unreadable index, a missing embedder package."""

from __future__ import annotations

from corpus.errors import AssistantError


class IndexNotBuiltError(AssistantError):
    """No index exists at the given folder."""


class IndexCorruptError(AssistantError):
    """The index folder exists but cannot be read back."""


class ModelNotInstalledError(AssistantError):
    """A model package that ships the weights is not installed."""
