"""One table of the command-line options several subcommands share, built from the
registries (models, strategies, precisions, retrievers), so that a choice is written once
and every subcommand offers the same ones with the same help.

    add_options(parser, "model", "adapter", "strategy", "passages")
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from assistant.generators.adapters import ADAPTER_HELP
from assistant.generators.hf import PRECISIONS
from assistant.generators.openai_backend import BASE_URL_ENV, PREFIX, is_served
from assistant.prompts import STRATEGIES
from assistant.settings import MODELS, ChatSettings
from index.config import RETRIEVERS
from index.embedders import EMBEDDERS


def model_choice(name: str) -> str:
    """--model: a model a package ships, or one an OpenAI-compatible server runs."""
    if name in MODELS or (is_served(name) and name[len(PREFIX) :].strip()):
        return name
    raise argparse.ArgumentTypeError(
        f"modelo desconocido {name!r}: usa uno de {', '.join(MODELS)} u {PREFIX}NOMBRE"
    )


@dataclass(frozen=True)
class Option:
    flag: str
    settings: dict = field(default_factory=dict)  # argparse add_argument keywords


OPTIONS: dict[str, Option] = {
    "model": Option(
        "--model",
        {
            "default": ChatSettings.model,
            "type": model_choice,
            "help": f"{', '.join(MODELS)}, u {PREFIX}NOMBRE: el modelo NOMBRE de un servidor "
            "compatible con OpenAI (Ollama, vLLM, llama.cpp; ver --base-url)",
        },
    ),
    "base_url": Option(
        "--base-url",
        {
            "default": None,
            "help": f"URL del servidor de --model {PREFIX}NOMBRE, p. ej. "
            f"http://localhost:11434/v1 (por defecto, {BASE_URL_ENV})",
        },
    ),
    "adapter": Option("--adapter", {"default": ChatSettings.adapter, "help": ADAPTER_HELP}),
    "strategy": Option(
        "--strategy",
        {
            "default": ChatSettings.strategy,
            "help": f"una de {', '.join(STRATEGIES)}; few-shot[:k] y cot[:k] con k ejemplos "
            "resueltos; extractive cita la mejor frase de tus notas, sin modelo",
        },
    ),
    "passages": Option(
        "--passages",
        {"type": int, "default": ChatSettings.passages, "help": "pasajes que se dan al modelo"},
    ),
    "precision": Option(
        "--precision",
        {
            "choices": PRECISIONS,
            "help": "precisión de los pesos en CPU (por defecto, la más rápida medida)",
        },
    ),
    "max_new_tokens": Option(
        "--max-new-tokens", {"type": int, "default": ChatSettings.max_new_tokens}
    ),
    "temperature": Option("--temperature", {"type": float, "default": ChatSettings.temperature}),
    "retriever": Option("--retriever", {"choices": RETRIEVERS}),
    "embedder": Option("--embedder", {"choices": tuple(EMBEDDERS)}),
    "k": Option("--k", {"type": int, "default": 5}),
}


def add_options(parser: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        option = OPTIONS[name]
        parser.add_argument(option.flag, **option.settings)
