"""The tuned model as one GGUF file, for llama.cpp, Ollama and LM Studio.

    python -m assistant export-gguf --out FILE.gguf [--adapter default|none|PATH] [--type f16|q8_0]
                                    [--force]

The base model's own GGUF (the one its package ships) gives everything but the weights:
architecture, hyper-parameters and tokenizer are copied key by key, so llama.cpp reads
the export exactly as it reads the original. The weights are our model's, the adapter
merged in (peft ``merge_and_unload``), converted back to GGUF's conventions, which the
one-to-one check in ``tests/test_gguf_export.py`` pins: a linear weight is the same
(out, in) matrix under another name (Gemma's q/k are not permuted), and a Gemma RMSNorm
weight ``w`` (applied as ``1 + w`` by transformers) is stored as ``1 + w``.

The base weights themselves are the package's Q4_K_M values dequantized (that is all the
project has), so an f16 export of the base model is our fp32 model rounded to f16, not
Google's original checkpoint.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from corpus.errors import AssistantError, SettingsError

GgufType = Literal["f16", "q8_0"]
GGUF_TYPES: tuple[str, ...] = ("f16", "q8_0")
MODEL = "gemma-270m"  # the only model with a shipped adapter
ARCHITECTURE = "gemma3"
PARTIAL_SUFFIX = ".partial"
SCRATCH_PREFIX = "study-assistant-gguf-"  # + PID: the scratch folder in the system temp

# GGUF tensor name (after ``blk.N.``) -> transformers parameter (after ``model.layers.N.``).
LAYER_TENSORS = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
}
GLOBAL_TENSORS = {"token_embd": "model.embed_tokens", "output_norm": "model.norm"}
_LAYER_NAME = re.compile(r"blk\.(\d+)\.(\w+)\.weight")


def hf_name(gguf_name: str) -> str:
    """The transformers parameter a Gemma 3 GGUF tensor holds; KeyError for any other."""
    match = _LAYER_NAME.fullmatch(gguf_name)
    if match:
        layer, kind = match.groups()
        return f"model.layers.{layer}.{LAYER_TENSORS[kind]}.weight"
    stem = gguf_name.removesuffix(".weight")
    return f"{GLOBAL_TENSORS[stem]}.weight"


def is_norm(gguf_name: str) -> bool:
    return gguf_name.endswith("norm.weight")


def check_export_options(out: Path, gguf_type: str, force: bool = False) -> Path:
    """The output path, resolved; SettingsError before any slow work (the model's load
    takes ~25 s): a bad --type or name, an --out that exists (unless ``force``), a folder
    that cannot be written."""
    if gguf_type not in GGUF_TYPES:
        raise SettingsError(f"--type debe ser uno de {', '.join(GGUF_TYPES)}, no {gguf_type!r}")
    out = Path(out).expanduser()
    if out.suffix.lower() != ".gguf":
        raise SettingsError(f"--out debe terminar en .gguf: {out}")
    if out.is_dir():
        raise SettingsError(f"--out es una carpeta, no un archivo: {out}")
    if not out.parent.is_dir():
        raise SettingsError(f"No existe la carpeta de --out: {out.parent}")
    if out.exists() and not force:
        raise SettingsError(f"--out ya existe: {out}; añade --force para reemplazarlo")
    try:  # what the export will do there: a hidden file, then a rename
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise SettingsError(
            f"No se puede escribir en la carpeta de --out {out.parent} ({err.strerror}): elige otra"
        ) from None
    return out.resolve()


def _partial_path(out: Path) -> Path:
    """Where ``out`` is written before its rename: hidden, beside it, named by this process
    so that the next export knows whether its writer is still alive."""
    return out.with_name(f".{out.name}.{os.getpid()}{PARTIAL_SUFFIX}")


def remove_leftovers(out_dir: Path, temp_dir: Path | None = None) -> list[Path]:
    """Delete what a killed export left (its process gone): a ``.NAME.gguf.PID.partial``
    beside the outputs (hundreds of MB) and its scratch folder in the system temp folder
    (the base model's GGUF assembled, ~240 MB). Returns what was deleted."""
    temp_dir = Path(temp_dir or tempfile.gettempdir())
    found = [
        (path, path.name.removesuffix(PARTIAL_SUFFIX).rpartition(".")[2])
        for path in out_dir.glob(f".*.gguf.*{PARTIAL_SUFFIX}")
    ]
    found += [
        (path, path.name.removeprefix(SCRATCH_PREFIX).partition("-")[0])
        for path in temp_dir.glob(f"{SCRATCH_PREFIX}*")
    ]
    # An older version's partial, named without its process.
    found += [(path, "0") for path in out_dir.glob(f".*.gguf{PARTIAL_SUFFIX}")]
    removed = []
    for path, pid in found:
        if not pid.isdigit() or (pid != "0" and _alive(int(pid))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def merged_state(adapter: str | None) -> dict:
    """Our model's weights as fp32 numpy arrays by transformers name, the adapter merged."""
    import torch
    from transformers import AutoModelForCausalLM

    from assistant.generators.adapters import apply_adapter, resolve_adapter
    from assistant.generators.model_cache import prepare_model

    folder = resolve_adapter(adapter)
    model = AutoModelForCausalLM.from_pretrained(
        prepare_model(MODEL), dtype=torch.float32, local_files_only=True
    )
    if folder is not None:
        model = apply_adapter(model, folder, MODEL)
    return {name: tensor.detach().numpy() for name, tensor in model.state_dict().items()}


def export_gguf(
    out: Path,
    adapter: str | None = "default",
    gguf_type: str = "f16",
    scratch: Path | None = None,
    force: bool = False,
) -> Path:
    """Write the base model with ``adapter`` merged (None or "none": the base model) to
    ``out`` as GGUF; returns ``out``. The file appears only when complete (written beside
    it under a temporary name, then renamed); what a killed export left is deleted first
    (``remove_leftovers``). An existing ``out`` is replaced only with ``force``."""
    import gguf
    import numpy as np

    from assistant.generators.adapters import adapter_for, resolve_adapter
    from assistant.generators.model_cache import gguf_path

    out = check_export_options(out, gguf_type, force)
    adapter = adapter_for(MODEL, adapter)
    folder = resolve_adapter(adapter)  # a bad folder fails before the model loads
    remove_leftovers(out.parent, scratch)
    with tempfile.TemporaryDirectory(
        prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=scratch
    ) as assembled:
        source = gguf_path(MODEL, Path(assembled))
        if out == source.resolve() or (folder is not None and out.is_relative_to(folder)):
            raise SettingsError(f"--out no puede reemplazar una entrada: {out}")
        reader = gguf.GGUFReader(str(source))
        weights = merged_state(adapter)
        partial = _partial_path(out)
        writer = gguf.GGUFWriter(str(partial), ARCHITECTURE)
        try:
            _copy_metadata(reader, writer, gguf_type, folder)
            for tensor in reader.tensors:
                values = weights[hf_name(tensor.name)].astype(np.float32)
                if is_norm(tensor.name):
                    values = values + 1.0
                values = values.reshape([int(n) for n in reversed(tensor.shape)])
                if values.ndim == 1:  # llama.cpp keeps every 1-D tensor in f32
                    writer.add_tensor(tensor.name, values)
                elif gguf_type == "f16":
                    writer.add_tensor(tensor.name, values.astype(np.float16))
                else:
                    qtype = gguf.GGMLQuantizationType.Q8_0
                    writer.add_tensor(
                        tensor.name, gguf.quants.quantize(values, qtype), raw_dtype=qtype
                    )
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
            writer.close()
            partial.replace(out)
        except OSError as err:  # the disk filled, the folder went away
            writer.close()
            partial.unlink(missing_ok=True)
            raise AssistantError(f"No se pudo escribir {out}: {err.strerror or err}") from None
        except BaseException:
            writer.close()
            partial.unlink(missing_ok=True)
            raise
    return out


def _copy_metadata(reader, writer, gguf_type: str, adapter: Path | None) -> None:
    """Every key of the source file but the ones the writer owns or that change."""
    import gguf

    file_type = {
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }[gguf_type]
    replaced = {"general.architecture", "general.file_type", "general.name"}
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in replaced:
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    name = "Gemma 3 270M" + (f" + LoRA {adapter.name}" if adapter else "")
    writer.add_name(name)
    writer.add_file_type(file_type)
    if adapter is not None:
        writer.add_string("study_assistant.adapter", adapter.name)


def describe(path: Path) -> str:
    size = path.stat().st_size / 2**20
    return f"{path} ({size:.0f} MiB)"
