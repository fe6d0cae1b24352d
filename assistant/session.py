"""Builds a ready Assistant from names and paths: shared by the CLI, the evals and the app."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from assistant.answer import Assistant, AssistantConfig
from assistant.generators.adapters import DEFAULT_ADAPTER, adapter_for
from assistant.generators.base import GenerationConfig
from index.store import NotesIndex
from index.store import open_index as build_or_load

MODELS = ("gemma-270m", "smollm2-135m")


def open_index(index_dir: str | Path | None, notes_dir: str | Path | None) -> NotesIndex:
    """Load the index; with a notes folder, (re)index it first (index.store.open_index)."""
    return build_or_load(notes_dir, index_dir)[0]


def load_assistant(
    index: NotesIndex,
    model: str = "gemma-270m",
    adapter: str | None = DEFAULT_ADAPTER,
    strategy: str = "zero-shot",
    passages: int = 3,
    generation: GenerationConfig | None = None,
    precision: str | None = None,
    seed: int = 0,
    base_url: str | None = None,
) -> Assistant:
    """``base_url``: the server of a served model (``model="openai:NAME"``)."""
    from assistant.generators import get_generator
    from assistant.prompts import parse_strategy
    from assistant.support import make_checker

    config = AssistantConfig(strategy=strategy, passages=passages, seed=seed)
    generator = None  # the extractive strategy quotes the notes: no model to load
    if parse_strategy(strategy).generates:
        adapter = adapter_for(model, adapter)
        generator = get_generator(model, adapter=adapter, precision=precision, base_url=base_url)
    if generation is not None:
        config = replace(config, generation=generation)
    return Assistant(index, generator, make_checker(), config)
