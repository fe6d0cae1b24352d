"""LoRA training of a causal LM on the rows written by assistant.training.lora.data.

The loss covers the completion tokens only (the answer and its EOS): the prompt is the
assistant's own text, and learning to reproduce notes would spend the tiny budget on
memorising them. Logits are computed for those positions alone (``logits_to_keep``):
Gemma 3's 262k-word output layer holds 170M of its 270M weights, so skipping it over
the ~490 prompt tokens cut a 256-token step from ~33 s to ~10 s when measured on this
(busy) 2-core machine.

Output folder::

    OUT/
      adapter_config.json, adapter_model.safetensors   the adapter (peft save_pretrained)
      train_config.json                                the LoraTrainConfig of the run
      train_log.jsonl                                  one row per optimizer step
      train_summary.json                               sizes, losses, time, data hash
      checkpoints/step-NNNNNN/                         adapter + optimizer + scheduler +
                                                       RNG + step; removed after success
                                                       unless keep_checkpoints

A checkpoint is written under a temporary name and renamed into place, so a run killed at
any moment resumes from the last complete one and repeats at most ``save_steps`` steps.
With the same data, config and thread count, a resumed run ends with the same adapter as
an uninterrupted one (the data order is a function of the seed and the step, and the RNG
that drives dropout is saved with each checkpoint).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import AdapterError
from assistant.training.lora.config import LoraTrainConfig
from assistant.training.lora.data import read_examples
from corpus.errors import AssistantError
from corpus.files import file_sha256

CHECKPOINTS = "checkpoints"
IGNORE = -100  # label of a position that takes no part in the loss (torch's ignore_index)


# -- examples as tensors --------------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]  # prompt (with BOS, as the generator encodes it) + completion + EOS
    labels: list[int]  # IGNORE over the prompt, the token ids over completion + EOS

    @property
    def completion_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def encode_example(tokenizer, prompt: str, completion: str) -> Encoded:
    """Prompt and completion tokenized apart, as at inference: the model reads the prompt's
    own tokens (``tokenizer(prompt)``) and writes the completion after them."""
    if tokenizer.eos_token_id is None:
        raise AssistantError(
            "El tokenizador no tiene token de fin (EOS): no se puede enseñar a parar"
        )
    prompt_ids = tokenizer(prompt).input_ids
    completion_ids = tokenizer(completion, add_special_tokens=False).input_ids
    completion_ids = [*completion_ids, tokenizer.eos_token_id]
    return Encoded(prompt_ids + completion_ids, [IGNORE] * len(prompt_ids) + completion_ids)


def collate(batch: list[Encoded], pad_id: int) -> dict:
    """Left-padded tensors, so every sequence ends at the last position and the completion
    logits are the last ``keep`` ones. Position ids skip the padding: a padded example is
    seen exactly as it would be alone."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    input_ids, labels, mask = [], [], []
    for example in batch:
        pad = width - len(example.input_ids)
        input_ids.append([pad_id] * pad + example.input_ids)
        labels.append([IGNORE] * pad + example.labels)
        mask.append([0] * pad + [1] * len(example.input_ids))
    attention_mask = torch.tensor(mask)
    return {
        "input_ids": torch.tensor(input_ids),
        "attention_mask": attention_mask,
        "position_ids": (attention_mask.cumsum(-1) - 1).clamp(min=0),
        "labels": torch.tensor(labels),
        # The last prompt position predicts the first completion token: one more logit.
        "keep": max(e.completion_tokens for e in batch) + 1,
    }


def completion_loss(model, batch: dict):
    """Mean over the examples of each example's mean cross-entropy on its completion
    tokens (a short abstention weighs as much as a long answer)."""
    import torch
    import torch.nn.functional as F

    keep = batch["keep"]
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        logits_to_keep=keep,
    ).logits  # (B, keep, V)
    targets = batch["labels"][:, -keep + 1 :]  # (B, keep-1): position t predicts t+1
    per_token = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets, ignore_index=IGNORE, reduction="none"
    )  # (B, keep-1)
    counted = (targets != IGNORE).sum(-1).clamp(min=1)
    return (per_token.sum(-1) / counted).mean() if per_token.numel() else torch.zeros(())


# -- model ----------------------------------------------------------------------------------


def model_folder(base: str) -> Path:
    """A registered model name ("gemma-270m", prepared from its package once) or a local
    transformers folder (config.json + weights + tokenizer)."""
    folder = Path(base).expanduser()
    if (folder / "config.json").is_file():
        return folder
    from assistant.generators.model_cache import MODEL_SPECS, prepare_model

    if base not in MODEL_SPECS:
        raise AssistantError(
            f"Modelo base desconocido {base!r}: usa uno de {', '.join(sorted(MODEL_SPECS))} "
            "o una carpeta de transformers con config.json"
        )
    return prepare_model(base)


def load_base(folder: Path):
    """Tokenizer and fp32 causal LM from a local folder (never a hub download)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    # The fp32 weights stay memory-mapped from the cache file. When another process
    # rewrites that file during a run, the next read of a mapped page kills this one with
    # SIGBUS (it happened here at step 49 of 57). A private copy costs ~1 GB of RAM.
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.data = tensor.data.clone()
    return tokenizer, model


def add_lora(model, config: LoraTrainConfig):
    """The model wrapped by peft with fresh LoRA matrices; only those require gradients."""
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in config.target_modules if m not in present]
    if missing:
        raise AssistantError(
            f"El modelo no tiene las capas {missing} de target_modules; tiene p. ej. "
            f"{sorted(n for n in present if n.endswith('proj'))[:8]}"
        )
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


# -- the schedule ---------------------------------------------------------------------------


def micro_batches(n_examples: int, config: LoraTrainConfig) -> list[list[int]]:
    """Example indices of every forward pass of the run, epoch after epoch; epoch e is a
    permutation drawn with seed + e, so the order depends on nothing but the config."""
    batches = []
    for epoch in range(config.epochs):
        order = list(range(n_examples))
        random.Random(config.seed + epoch).shuffle(order)
        batches += [
            order[i : i + config.batch_size] for i in range(0, n_examples, config.batch_size)
        ]
    return batches


# -- checkpoints ----------------------------------------------------------------------------


def step_dirs(root: Path) -> list[Path]:
    """Complete checkpoints (state.json is written last), oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(root: Path, model, optimizer, scheduler, state: dict) -> Path:
    """Adapter + optimizer + scheduler + RNG + state, renamed into place when complete;
    older checkpoints are then removed (the newest is all a resume needs)."""
    import torch

    final = root / f"step-{state['step']:06d}"
    staging = root / f".{final.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    (staging / "README.md").unlink(missing_ok=True)  # peft's empty model card
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        },
        staging / "trainer.pt",
    )
    (staging / "state.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    for older in step_dirs(root)[:-1]:
        shutil.rmtree(older, ignore_errors=True)
    return final


def load_adapter_weights(folder: Path, model) -> None:
    """The checkpoint's LoRA weights into ``model`` (a peft model)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    result = set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
    unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
    if unexpected:
        raise AdapterError(
            f"El punto de control {folder} no encaja con el modelo: {unexpected[:3]}"
        )


def load_checkpoint(
    folder: Path, model, optimizer, scheduler, load_weights=load_adapter_weights
) -> dict:
    """The weights (``load_weights(folder, model)``: a model saved otherwise by its
    ``save_pretrained`` brings its own), optimizer, scheduler and RNG; returns the state."""
    import torch

    load_weights(folder, model)
    trainer = torch.load(folder / "trainer.pt", weights_only=False)
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    torch.set_rng_state(trainer["torch_rng"])
    return json.loads((folder / "state.json").read_text(encoding="utf-8"))


def _read_log(path: Path, up_to_step: int) -> list[dict]:
    """The log rows of the steps a resumed run keeps (a killed run may have logged steps
    after its last checkpoint; they are redone)."""
    if not path.is_file():
        return []
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return [row for row in rows if row["step"] <= up_to_step]


# -- the entry point ------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def train_lora(
    base: str, data: Path, out: Path, config: LoraTrainConfig | None = None, resume: bool = True
) -> dict:
    """Train a LoRA adapter on ``data`` (JSONL from build_dataset) over ``base`` and save it
    in ``out``. Resumes from ``out/checkpoints`` when ``resume`` and one exists. Returns the
    summary also written to ``out/train_summary.json``."""
    import torch

    config = config or LoraTrainConfig()
    data, out = Path(data), Path(out)
    rows = read_examples(data)
    data_sha = file_sha256(data)
    root = out / CHECKPOINTS
    latest = step_dirs(root)[-1] if resume and step_dirs(root) else None
    if latest is None and (out / "adapter_model.safetensors").exists() and resume:
        raise AdapterError(
            f"Ya hay un adaptador entrenado en {out}: bórralo, elige otra carpeta o "
            "entrena con resume=False para reemplazarlo"
        )
    if latest is not None:
        saved = json.loads((latest / "state.json").read_text(encoding="utf-8"))
        if saved["config"] != config.to_json() or saved["data_sha256"] != data_sha:
            raise AdapterError(
                f"El punto de control {latest} se hizo con otra configuración u otros datos: "
                "bórralo o entrena con resume=False"
            )
    if not resume:
        shutil.rmtree(root, ignore_errors=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    try:
        return _train(base, data, out, config, rows, data_sha, root, latest)
    finally:
        torch.set_num_threads(threads)  # process-wide: give the caller its setting back


def _train(base, data, out, config, rows, data_sha, root, latest) -> dict:
    import torch
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup, set_seed

    began = time.perf_counter()
    set_seed(config.seed)  # python, numpy and torch: LoRA's initial A matrices, dropout
    folder = model_folder(base)
    tokenizer, model = load_base(folder)
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )

    encoded, too_long = [], 0
    for row in rows:
        example = encode_example(tokenizer, row["prompt"], row["completion"])
        if len(example.input_ids) > config.max_seq_len:
            too_long += 1  # counted in the summary: cutting would drop the question or the answer
            continue
        encoded.append(example)
    if not encoded:
        raise AssistantError(
            f"Ningún ejemplo de {data} cabe en max_seq_len={config.max_seq_len} tokens"
        )

    model = add_lora(model, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    batches = micro_batches(len(encoded), config)
    total_steps = math.ceil(len(batches) / config.grad_accumulation)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, min(config.warmup_steps, total_steps), total_steps
    )

    step, elapsed_before, resumed_from = 0, 0.0, None
    log_path = out / "train_log.jsonl"
    log_rows: list[dict] = []
    if latest is not None:
        state = load_checkpoint(latest, model, optimizer, scheduler)
        step, elapsed_before, resumed_from = state["step"], state["seconds"], state["step"]
        log_rows = _read_log(log_path, step)
    out.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:  # rewritten: drops redone steps
        for row in log_rows:
            log.write(json.dumps(row) + "\n")

    model.train()
    trained_at = time.perf_counter()
    progress = tqdm(total=total_steps, initial=step, desc="Entrenando LoRA", unit="paso")
    with open(log_path, "a", encoding="utf-8") as log:
        while step < total_steps:
            step_began = time.perf_counter()
            group = batches[step * config.grad_accumulation : (step + 1) * config.grad_accumulation]
            step_loss = 0.0
            for indices in group:
                loss = completion_loss(model, collate([encoded[i] for i in indices], pad_id))
                (loss / len(group)).backward()
                step_loss += loss.item() / len(group)
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            learning_rate = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seconds = elapsed_before + time.perf_counter() - trained_at
            row = {
                "step": step,
                "loss": round(step_loss, 5),
                "lr": learning_rate,
                "seconds": round(seconds, 1),  # since the run began, across resumes
                "step_seconds": round(time.perf_counter() - step_began, 2),
            }
            log.write(json.dumps(row) + "\n")
            log.flush()
            log_rows.append(row)
            progress.set_postfix(loss=f"{step_loss:.3f}", lr=f"{learning_rate:.1e}")
            progress.update(1)
            if step % config.save_steps == 0 or step == total_steps:
                save_checkpoint(
                    root,
                    model,
                    optimizer,
                    scheduler,
                    {
                        "step": step,
                        "seconds": seconds,
                        "config": config.to_json(),
                        "data_sha256": data_sha,
                    },
                )
    progress.close()

    model.save_pretrained(out)
    (out / "README.md").unlink(missing_ok=True)  # peft's empty model card: the JSONs say more
    config.save(out / "train_config.json")
    losses = [row["loss"] for row in log_rows]
    lengths = [len(e.input_ids) for e in encoded]
    summary = {
        "out": str(out),
        "base": base,
        "base_folder": str(folder),
        "data": str(data),
        "data_sha256": data_sha,
        "examples": len(encoded),
        "skipped_too_long": too_long,
        "tokens_mean": round(sum(lengths) / len(lengths), 1),
        "tokens_max": max(lengths),
        "completion_tokens_mean": round(
            sum(e.completion_tokens for e in encoded) / len(encoded), 1
        ),
        "steps": total_steps,
        "resumed_from": resumed_from,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "loss_first_10_steps": _mean(losses[:10]),
        "loss_last_10_steps": _mean(losses[-10:]),
        "final_loss": losses[-1] if losses else None,
        "train_seconds": round(log_rows[-1]["seconds"], 1) if log_rows else 0.0,
        "wall_seconds_this_run": round(time.perf_counter() - began, 1),
        "torch_threads": torch.get_num_threads(),
    }
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if not config.keep_checkpoints:
        shutil.rmtree(root, ignore_errors=True)
    return summary
