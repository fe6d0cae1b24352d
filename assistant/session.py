"""Builds a ready Assistant from names and paths: shared by the CLI, the evals and the app."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from assistant.answer import Assistant, AssistantConfig
from assistant.generators.adapters import DEFAULT_ADAPTER, adapter_for
from assistant.generators.base import GenerationConfig
from corpus.errors import SettingsError
from index.cache import default_index_dir
from index.store import NotesIndex, build_index

MODELS = ("gemma-270m", "smollm2-135m")


def open_index(index_dir: str | Path | None, notes_dir: str | Path | None) -> NotesIndex:
    """Load the index; with a notes folder, (re)index it first (only changes are embedded)."""
    if index_dir is None and notes_dir is None:
        raise SettingsError("index_dir or notes_dir is required")
    index_dir = Path(index_dir) if index_dir else default_index_dir(Path(notes_dir))
    if notes_dir is not None:
        build_index(notes_dir, index_dir)
    return NotesIndex.load(index_dir)


def load_assistant(
    index: NotesIndex,
    model: str = "gemma-270m",
    adapter: str | None = DEFAULT_ADAPTER,
    strategy: str = "zero-shot",
    passages: int = 3,
    generation: GenerationConfig | None = None,
    precision: str | None = None,
    seed: int = 0,
) -> Assistant:
    from assistant.generators import get_generator
    from assistant.prompts import parse_strategy
    from assistant.support import SupportChecker

    config = AssistantConfig(strategy=strategy, passages=passages, seed=seed)
    generator = None  # the extractive strategy quotes the notes: no model to load
    if parse_strategy(strategy).generates:
        adapter = adapter_for(model, adapter)
        generator = get_generator(model, adapter=adapter, precision=precision)
    if generation is not None:
        config = replace(config, generation=generation)
    return Assistant(index, generator, SupportChecker(), config)
