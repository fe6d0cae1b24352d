"""Local generators behind one interface (see base.py), in a registry keyed by name.

get_generator("gemma-270m")                          # default precision, no adapter
get_generator("smollm2-135m", precision="bf16")
get_generator("gemma-270m", adapter="runs/lora-1")   # a peft LoRA folder, merged
get_generator("openai:llama3.2", base_url="http://localhost:11434/v1")  # a served model
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import cast

from assistant.generators.base import GenerationConfig, Generator

# hf and model_cache import torch and transformers only inside functions: the CLI's other
# commands (index, eval retrieval) never pay the seconds those imports take.
from assistant.generators.hf import (
    DEFAULT_PRECISION,
    PRECISIONS,
    HFConfig,
    HFGenerator,
    Precision,
)
from assistant.generators.model_cache import MODEL_SPECS
from assistant.generators.openai_backend import (
    PREFIX,
    OpenAIConfig,
    OpenAIGenerator,
    check_served_options,
)
from corpus.errors import AssistantError


def _hf_factory(name: str, adapter: str | None, precision: str) -> Generator:
    # HFConfig checks the precision; get_generator already has.
    return HFGenerator(name, adapter=adapter, config=HFConfig(precision=cast(Precision, precision)))


# name -> factory(adapter, precision); tests add fakes here.
GENERATORS: dict[str, Callable[[str | None, str], Generator]] = {
    name: partial(_hf_factory, name) for name in MODEL_SPECS
}

# prefix -> factory(name at the server, base URL): models that a server runs, not us.
SERVED: dict[str, Callable[[str, str], Generator]] = {
    PREFIX: lambda served, url: OpenAIGenerator(served, OpenAIConfig.from_env(url)),
}

_loaded: dict[tuple[str, str | None, str], Generator] = {}


def _adapter_key(adapter: str | None) -> str | None:
    if adapter is None or str(adapter).strip().lower() in ("", "none"):
        return None
    # One instance per folder however it is spelled; a missing folder keeps its spelling
    # and is refused by the factory with AdapterError.
    folder = Path(adapter).expanduser()
    return str(folder.resolve()) if folder.exists() else str(adapter)


def get_generator(
    name: str, adapter: str | None = None, precision: str | None = None, base_url: str | None = None
) -> Generator:
    """The process-wide instance for (name, adapter, precision): each loads once. A served
    name ("openai:NAME") takes ``base_url`` (or its environment variable) instead."""
    prefix = next((prefix for prefix in SERVED if name.startswith(prefix)), None)
    if prefix is not None:
        url = check_served_options(name, _adapter_key(adapter), precision, base_url)
        key: tuple[str, str | None, str] = (name, url, "served")
        if key not in _loaded:
            _loaded[key] = SERVED[prefix](name[len(prefix) :], url)
        return _loaded[key]
    if name not in GENERATORS:
        raise AssistantError(
            f"Modelo desconocido {name!r}: usa uno de {', '.join(sorted(GENERATORS))} "
            f"u {PREFIX}NOMBRE (un servidor compatible con OpenAI)"
        )
    precision = precision or DEFAULT_PRECISION
    if precision not in PRECISIONS:
        raise AssistantError(
            f"Precisión desconocida {precision!r}: usa una de {', '.join(PRECISIONS)}"
        )
    key = (name, _adapter_key(adapter), precision)
    if key not in _loaded:
        _loaded[key] = GENERATORS[name](key[1], precision)
    return _loaded[key]


__all__ = [
    "DEFAULT_PRECISION",
    "GENERATORS",
    "PRECISIONS",
    "SERVED",
    "GenerationConfig",
    "Generator",
    "get_generator",
]
