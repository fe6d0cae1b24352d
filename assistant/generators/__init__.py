"""Local generators behind one interface (see base.py), in a registry keyed by name.

get_generator("gemma-270m")                          # default precision, no adapter
get_generator("smollm2-135m", precision="bf16")
get_generator("gemma-270m", adapter="runs/lora-1")   # a peft LoRA folder, merged
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from assistant.generators.base import GenerationConfig, Generator

# hf and model_cache import torch and transformers only inside functions: the CLI's other
# commands (index, eval retrieval) never pay the seconds those imports take.
from assistant.generators.hf import DEFAULT_PRECISION, PRECISIONS, HFConfig, HFGenerator
from assistant.generators.model_cache import MODEL_SPECS
from corpus.errors import AssistantError


def _hf_factory(name: str, adapter: str | None, precision: str) -> Generator:
    return HFGenerator(name, adapter=adapter, config=HFConfig(precision=precision))


# name -> factory(adapter, precision); tests add fakes here.
GENERATORS: dict[str, Callable[[str | None, str], Generator]] = {
    name: partial(_hf_factory, name) for name in MODEL_SPECS
}

_loaded: dict[tuple[str, str | None, str], Generator] = {}


def _adapter_key(adapter: str | None) -> str | None:
    if adapter is None or str(adapter).strip().lower() in ("", "none"):
        return None
    # One instance per folder however it is spelled; a missing folder keeps its spelling
    # and is refused by the factory with AdapterError.
    folder = Path(adapter).expanduser()
    return str(folder.resolve()) if folder.exists() else str(adapter)


def get_generator(name: str, adapter: str | None = None, precision: str | None = None) -> Generator:
    """The process-wide instance for (name, adapter, precision): each loads once."""
    if name not in GENERATORS:
        raise AssistantError(
            f"Modelo desconocido {name!r}: usa uno de {', '.join(sorted(GENERATORS))}"
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
    "GenerationConfig",
    "Generator",
    "get_generator",
]
