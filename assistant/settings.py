"""The one record of how the chat answers, and the Assistant it builds.

``ChatSettings`` holds every default a user can change (model, adapter, strategy,
passages, generation length and temperature, precision, a model server's URL): the CLI's
options, the app's controls and the evals read their defaults from it, so a default is
written once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from assistant.generators.adapters import DEFAULT_ADAPTER, adapter_for
from assistant.generators.base import GenerationConfig
from assistant.generators.model_cache import MODEL_SPECS

if TYPE_CHECKING:  # the answering path loads faiss and more: the CLI's options must not
    from assistant.answer import Assistant
    from index.store import NotesIndex

MODELS = tuple(MODEL_SPECS)  # every model a package ships (assistant/generators/model_cache.py)


@dataclass(frozen=True)
class ChatSettings:
    model: str = "gemma-270m"
    adapter: str | None = DEFAULT_ADAPTER  # the model's shipped LoRA adapter; None: none
    strategy: str = "zero-shot"
    passages: int = 3  # recall@3 of the retriever is 0.96; each passage costs prefill time
    max_new_tokens: int = GenerationConfig.max_new_tokens
    temperature: float = GenerationConfig.temperature
    precision: str | None = None  # None: the fastest measured for the model
    seed: int = 0  # draws the few-shot examples
    base_url: str | None = None  # the server of a served model (model="openai:NAME")


def load_assistant(index: NotesIndex, settings: ChatSettings | None = None, **changes) -> Assistant:
    """The Assistant ``settings`` describe (the defaults without it), with ``changes``
    applied to them: ``load_assistant(index, strategy="cot")``."""
    from assistant.answer import Assistant, AssistantConfig
    from assistant.generators import get_generator
    from assistant.prompts import parse_strategy
    from assistant.support import make_checker

    settings = replace(settings or ChatSettings(), **changes)
    config = AssistantConfig(
        strategy=settings.strategy,
        passages=settings.passages,
        seed=settings.seed,
        generation=GenerationConfig(
            max_new_tokens=settings.max_new_tokens, temperature=settings.temperature
        ),
    )
    generator = None  # the extractive strategy quotes the notes: no model to load
    if parse_strategy(settings.strategy).generates:
        generator = get_generator(
            settings.model,
            adapter=adapter_for(settings.model, settings.adapter),
            precision=settings.precision,
            base_url=settings.base_url,
        )
    return Assistant(index, generator, make_checker(), config)
