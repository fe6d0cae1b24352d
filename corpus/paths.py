"""Where the project keeps what it derives: the app-wide cache and data folders.

At the bottom layer so that every stage (index, generators, study, eval) finds them
without importing the index for a path.
"""

from __future__ import annotations

import os
from pathlib import Path

from corpus.records import content_hash


def default_cache_dir() -> Path:
    """Where derived artefacts live: STUDY_ASSISTANT_CACHE or ~/.cache/study-assistant."""
    configured = os.environ.get("STUDY_ASSISTANT_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "study-assistant"


def default_index_dir(notes_dir: Path) -> Path:
    """The index used for a notes folder when none is named: one per folder, in the cache."""
    resolved = Path(notes_dir).resolve()
    return (
        default_cache_dir()
        / "indexes"
        / f"{resolved.name}-{content_hash(str(resolved), length=10)}"
    )


def default_deck_path(notes_dir: str | Path) -> Path:
    """$STUDY_ASSISTANT_CACHE (or ~/.cache/study-assistant)/decks/<hash of the notes path>."""
    key = content_hash(str(Path(notes_dir).expanduser().resolve()))
    return default_cache_dir() / "decks" / f"{key}.sqlite"
