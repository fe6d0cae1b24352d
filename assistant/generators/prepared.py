"""The chat model as it runs, saved once: adapter merged, weights packed to int8.

A cold ``ask`` loaded the fp32 weights (1.1 GB) and cast them to bf16, imported peft to
merge the LoRA adapter, and packed every Linear to int8: about 8 of its 14 s
(``eval.bench.cold_start``, docs/RESULTS.md). The packed model is saved the first time as
safetensors in the model's cache folder and later read into a model built without
initializing its weights: nothing is computed at start.

The file's name carries a key over everything its bytes depend on: the model's prepared
source (``source.json``), the adapter's files, the precision, transformers' version and
this module's FORMAT (raise it when the packing changes). A file that fails to load is
deleted and the model loads the slow way, which writes it again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from pathlib import Path

FORMAT = 2  # 2: the input embedding read from lm_head's int8 copy
PRECISIONS = ("int8w",)  # the default; the others load the slow way
log = logging.getLogger(__name__)


def prepared_file(model_folder: Path, adapter: Path | None, precision: str) -> Path | None:
    """Where the packed model of (model, adapter, precision) lives; None when this
    precision is not cached, or STUDY_ASSISTANT_PREPARED=0 turns the cache off (the
    cold-start benchmark's "before")."""
    if precision not in PRECISIONS or os.environ.get("STUDY_ASSISTANT_PREPARED") == "0":
        return None
    import transformers

    digest = hashlib.sha256()
    for part in (str(FORMAT), precision, transformers.__version__):
        digest.update(part.encode() + b"\0")
    digest.update((model_folder / "source.json").read_bytes())
    if adapter is not None:
        for path in sorted(p for p in adapter.iterdir() if p.is_file()):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    name = f"{model_folder.name}-{precision}-{digest.hexdigest()[:16]}.safetensors"
    return model_folder.parent / "prepared" / name


def save_prepared(model, path: Path) -> None:
    """The model's state (int8 buffers and bf16 parameters) to ``path``, atomically. A
    failure (a full disk) only logs: the model in memory is fine."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
        save_file(state, temp)
        os.replace(temp, path)
    except (OSError, RuntimeError) as err:
        log.warning("could not save the prepared model to %s: %s", path, err)
        Path(temp).unlink(missing_ok=True)


def load_prepared(path: Path, model_folder: Path, attn_implementation: str):
    """The packed model from ``path``, or None if there is none or it fails to load (then
    deleted, so that the slow load writes it again)."""
    if not path.is_file():
        return None
    import torch
    import transformers
    from safetensors.torch import load_file
    from transformers.initialization import no_init_weights

    from assistant.generators.int8 import int8_skeleton

    try:
        config = transformers.AutoConfig.from_pretrained(model_folder, local_files_only=True)
        config._attn_implementation = attn_implementation
        model_class = getattr(transformers, config.architectures[0])
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.bfloat16)
        try:
            with no_init_weights():
                model = model_class(config)
        finally:
            torch.set_default_dtype(previous)
        if (model_folder / "generation_config.json").is_file():  # as from_pretrained reads it
            model.generation_config = transformers.GenerationConfig.from_pretrained(
                model_folder, local_files_only=True
            )
        # Copied out of the file's mapping (tensors left on it crashed the int8 kernel);
        # assign: the modules take these tensors, no second copy.
        state = {name: tensor.clone() for name, tensor in load_file(path).items()}
        embedding = model.get_input_embeddings()
        embedding_name = next(n for n, m in model.named_modules() if m is embedding)
        int8_skeleton(model, tied=f"{embedding_name}.weight" not in state)
        model.load_state_dict(state, strict=True, assign=True)
    except Exception as err:  # noqa: BLE001 - any damage: load the slow way
        log.warning("prepared model %s unusable (%s); loading the slow way", path, err)
        path.unlink(missing_ok=True)
        return None
    return model.eval()


# 2: the Python copies of the vocabulary and merges dropped before pickling.
TOKENIZER_FORMAT = "tokenizer-2"


def _lean(tokenizer):
    """The tokenizer without the Python copies of its vocabulary and merges that
    transformers' BPE tokenizers (Gemma's) keep after building the Rust one from them:
    read only in ``__init__``, they held ~165 MB of a process (``eval.bench.memory``)."""
    for name, empty in (("_vocab", {}), ("_merges", [])):
        if hasattr(tokenizer, name):
            setattr(tokenizer, name, empty)
    return tokenizer


def load_tokenizer(model_folder: Path):
    """The model's transformers tokenizer, from a pickled copy in the prepared folder.

    transformers builds Gemma's tokenizer by parsing its 33 MB tokenizer.json in Python
    and then again in Rust: 2.9 s of a cold start; the pickled object loads in ~1.3 s
    (docs/RESULTS.md, "Cold start"). The copy is keyed by the tokenizer files'
    bytes and the libraries' versions, and written by this process only, into the user's
    own cache; one that fails to load is deleted and rebuilt.
    """
    import tokenizers
    import transformers
    from transformers import AutoTokenizer

    if os.environ.get("STUDY_ASSISTANT_PREPARED") == "0":
        return _lean(AutoTokenizer.from_pretrained(model_folder, local_files_only=True))
    digest = hashlib.sha256()
    for part in (TOKENIZER_FORMAT, transformers.__version__, tokenizers.__version__):
        digest.update(part.encode() + b"\0")
    for path in sorted(model_folder.glob("tokenizer*")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    path = (
        model_folder.parent
        / "prepared"
        / f"{model_folder.name}-tokenizer-{digest.hexdigest()[:16]}.pkl"
    )
    if path.is_file():
        try:
            with path.open("rb") as handle:
                return pickle.load(handle)  # noqa: S301 - our own file, in the user's cache
        except Exception as err:  # noqa: BLE001 - any damage: build it again
            log.warning("prepared tokenizer %s unusable (%s); building it again", path, err)
            path.unlink(missing_ok=True)
    tokenizer = _lean(AutoTokenizer.from_pretrained(model_folder, local_files_only=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(tokenizer, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
    except (OSError, pickle.PicklingError) as err:
        log.warning("could not save the prepared tokenizer to %s: %s", path, err)
        Path(temp).unlink(missing_ok=True)
    return tokenizer
