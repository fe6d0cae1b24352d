"""LoRA adapters (peft folders) put onto a loaded base model.

A folder is checked before peft touches the model, so a wrong path or an adapter trained
for another base model ends in one Spanish sentence instead of a shape traceback: the
folder must hold ``adapter_config.json`` of a LoRA and a readable
``adapter_model.safetensors`` (checked before the model loads), and every
``lora_A``/``lora_B`` matrix in it must fit the layer it names (once the model is loaded).
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.errors import AdapterError

NO_ADAPTER = ("", "none")
DEFAULT_ADAPTER = "default"  # the shipped adapter of the chosen model, if it has one
# What --adapter means, for every command that takes it.
ADAPTER_HELP = (
    "default: el adaptador LoRA entrenado para el modelo (si tiene); none: sin "
    "adaptador; o la carpeta de otro adaptador"
)
WEIGHTS_FILE = "adapter_model.safetensors"
LEGACY_WEIGHTS_FILE = "adapter_model.bin"  # peft before safetensors
# The adapters trained in this project, by base model (assistant/adapters/; how they
# were made: train_config.json and train_summary.json beside each).
SHIPPED_ADAPTERS: dict[str, Path] = {
    # The reader trained on SQuAD-es + the notes (issue 12; docs/RESULTS.md "The reader");
    # gemma-270m-notes, the first adapter (notes only), stays beside it for comparison.
    "gemma-270m": Path(__file__).resolve().parents[1] / "adapters" / "gemma-270m-reader",
}


def adapter_for(model: str, adapter: str | Path | None) -> str | None:
    """What ``--adapter`` means for ``model``: "default" is its shipped adapter (None when
    it has none), "none" or empty is no adapter, anything else a folder path."""
    if adapter is None or str(adapter).strip().lower() in NO_ADAPTER:
        return None
    if str(adapter).strip().lower() == DEFAULT_ADAPTER:
        shipped = SHIPPED_ADAPTERS.get(model)
        return str(shipped) if shipped else None
    return str(adapter)


def resolve_adapter(adapter: str | Path | None) -> Path | None:
    """The adapter folder as an absolute path, None for no adapter; AdapterError when the
    folder is missing or is not a LoRA adapter."""
    if adapter is None or str(adapter).strip().lower() in NO_ADAPTER:
        return None
    folder = Path(adapter).expanduser()
    if not folder.exists():
        raise AdapterError(f"No existe el adaptador LoRA: {adapter}")
    if not (folder / "adapter_config.json").is_file():
        raise AdapterError(f"{adapter} no es un adaptador LoRA: le falta adapter_config.json")
    folder = folder.resolve()
    read_adapter_config(folder)
    check_weights(folder)
    return folder


def check_weights(folder: Path) -> None:
    """The adapter's weights are there and readable (the safetensors header: names,
    shapes, and that the file holds every byte it announces), in milliseconds and before
    any model loads. Without this, a folder with no weights sent peft to the Hugging Face
    hub ("Repo id must be in the form…") and a damaged file was a traceback after the
    model's load. Known limit: bytes damaged inside a tensor are not detected."""
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        if (folder / LEGACY_WEIGHTS_FILE).is_file():
            return  # an old .bin adapter: peft's own loading errors are caught later
        raise AdapterError(
            f"Al adaptador LoRA {folder} le faltan sus pesos ({WEIGHTS_FILE}): cópialo "
            "entero o entrénalo de nuevo"
        )
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="np") as stored:
            names = list(stored.keys())  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AdapterError(
            f"Los pesos del adaptador LoRA {weights} están dañados ({reason}): cópialo de "
            "nuevo o entrénalo otra vez"
        ) from None
    if not any(".lora_A." in name for name in names):
        raise AdapterError(f"{weights} no tiene matrices LoRA (lora_A, lora_B)")


def read_adapter_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AdapterError(f"No se puede leer {folder / 'adapter_config.json'}: {error}") from None
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterError(
            f"{folder} no es un adaptador LoRA (peft_type={config.get('peft_type')!r})"
        )
    return config


def check_base_model(config: dict, folder: Path, model_name: str) -> None:
    """Refuse an adapter whose recorded base model is another registered model.

    Adapters trained here record the cache folder of their base model
    (``.../models/<name>-<package>-<version>``); an unknown or empty base is left to the
    shape check, which is what really decides.
    """
    from assistant.generators.model_cache import MODEL_SPECS

    base = str(config.get("base_model_name_or_path") or "")
    others = [name for name in MODEL_SPECS if name != model_name and name in base]
    if others and model_name not in base:
        raise AdapterError(
            f"El adaptador LoRA {folder} se entrenó para {others[0]}, no para {model_name}"
        )


def check_shapes(model, folder: Path, model_name: str) -> None:
    """Every LoRA matrix must name an existing Linear layer and match its sizes.

    lora_A is (r, in_features) and lora_B is (out_features, r); keys look like
    ``base_model.model.<module path>.lora_A.weight``.
    """
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        return  # an old .bin adapter: peft's own loading errors are caught by the caller
    from safetensors import safe_open

    modules = dict(model.named_modules())
    with safe_open(str(weights), framework="pt") as stored:
        for key in stored.keys():  # noqa: SIM118 (safe_open is not a dict)
            if ".lora_A." not in key and ".lora_B." not in key:
                continue
            module_path = key.removeprefix("base_model.model.").split(".lora_")[0]
            layer = modules.get(module_path)
            if layer is None or not hasattr(layer, "in_features"):
                raise AdapterError(
                    f"El adaptador LoRA {folder} no es para {model_name}: "
                    f"el modelo no tiene la capa {module_path}"
                )
            shape = tuple(stored.get_slice(key).get_shape())
            fits = (
                shape[1] == layer.in_features
                if ".lora_A." in key
                else shape[0] == layer.out_features
            )
            if not fits:
                raise AdapterError(
                    f"El adaptador LoRA {folder} no es para {model_name}: la capa {module_path} "
                    f"es {layer.in_features}→{layer.out_features} y el adaptador trae {key.split('.')[-2]} "
                    f"de forma {list(shape)} (¿se entrenó sobre otro modelo base?)"
                )


def apply_adapter(model, folder: Path, model_name: str):
    """The base model with the LoRA at ``folder`` merged into its weights."""
    from peft import PeftModel

    config = read_adapter_config(folder)
    check_base_model(config, folder, model_name)
    check_shapes(model, folder, model_name)
    try:
        peft_model = PeftModel.from_pretrained(model, str(folder), is_trainable=False)
    except (RuntimeError, ValueError, KeyError, OSError) as error:
        # Whatever the checks above missed (e.g. target modules that exist under another
        # name): peft's first line says which layer, without the traceback.
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise AdapterError(
            f"No se pudo cargar el adaptador LoRA {folder} en {model_name}: {first_line}"
        ) from None
    merged = peft_model.merge_and_unload()
    # peft froze the base weights (requires_grad=False). A plainly loaded model has them
    # True, and the difference is not cosmetic: with a frozen bf16 lm_head, the last-
    # position logits (a (1, 1, 640) input) took a bmm path that copies the whole
    # 262,144 x 640 weight on every call, 1.25 s instead of 0.02 s, doubling time to
    # first token (measured with torch 2.13). Inference runs under torch.inference_mode,
    # so no gradient is ever recorded either way.
    return merged.requires_grad_(True)
