"""Train the cross-encoder selector (``selection/cross/``) on the training questions only.

    python -m assistant.training.selection.cross_train [--minutes 90] [--out assistant/selection/cross]

The questions are the learned ranker's (``cross_data``): SQuAD-es train articles and the
notes' dev questions outside the held-out sections, each with every unit of its top 3
passages. A share of the SQuAD-es train articles is held out whole as validation: it
reports P@1 and fits the no-answer model on questions the encoder never saw.

Each optimizer step takes ``questions_per_step`` questions, each with its positive units
and up to ``units_per_question`` units in all (the rest sampled from its negatives). The
loss per question is a binary cross-entropy over its units (it calibrates a unit's
probability, which an unanswerable question needs) plus, when a unit answers, the listwise
softmax cross-entropy of the answering units against all (what P@1 rewards).

Resumable: a checkpoint (adapter + head + optimizer + scheduler + RNG + step) is written
under a temporary name and renamed into place every ``save_steps`` steps, in the cache; a
killed run resumes from the newest and repeats at most ``save_steps`` steps. The data order
is a function of the seed and the step only.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from assistant.selection.cross import (
    HEAD_FILE,
    MODEL_DIR,
    MODEL_FILE,
    CrossModel,
    build_model,
    no_answer_row,
    pair_batch,
    pair_text,
)
from assistant.selection.features import Candidate
from assistant.training.lora.train import (
    load_adapter_weights,
    load_checkpoint,
    save_checkpoint,
    step_dirs,
)
from assistant.training.selection.cross_data import QuestionRows, cached_rows, split_groups
from corpus.errors import AssistantError


@dataclass(frozen=True)
class EncoderTrainConfig:
    """What every e5 cross-encoder trainer shares (this one, support/cross_train.py)."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    # The adapter sits on the layers from this one up: the lower layers need no backward
    # pass (a third less work per step on this CPU); their features stay e5's own.
    lora_from_layer: int = 4
    learning_rate: float = 4e-4
    weight_decay: float = 0.01
    epochs: float = 1.0
    max_steps: int = 0  # 0: epochs decide; otherwise a cap (the CPU budget)
    validation_share: float = 0.1  # of the groups (articles, notes), held out whole
    threads: int = 2
    seed: int = 0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CrossTrainConfig(EncoderTrainConfig):
    warmup_steps: int = 15
    questions_per_step: int = 4
    units_per_question: int = 8  # positives + sampled negatives; ~16 retrieved on average
    notes_repeats: int = 3  # each notes question appears this many times per epoch
    save_steps: int = 20


# -- batches ------------------------------------------------------------------------------


def epoch_order(train: list[QuestionRows], config: CrossTrainConfig, epoch: int) -> list[int]:
    """Question indices of one epoch, shuffled by (seed, epoch)."""
    order = [
        i
        for i, row in enumerate(train)
        for _ in range(config.notes_repeats if row.source == "notes" else 1)
    ]
    random.Random(f"{config.seed}-{epoch}").shuffle(order)
    return order


def step_questions(train, config: CrossTrainConfig, step: int) -> list[tuple[int, int]]:
    """(question index, sampling seed) of the questions of optimizer step ``step``."""
    per_epoch = len(epoch_order(train, config, 0))
    first = step * config.questions_per_step
    picked = []
    for position in range(first, first + config.questions_per_step):
        epoch, offset = divmod(position, per_epoch)
        picked.append((epoch_order(train, config, epoch)[offset], position))
    return picked


def sample_units(row: QuestionRows, limit: int, seed: int) -> list[int]:
    positives = [i for i, u in enumerate(row.units) if u.label]
    negatives = [i for i, u in enumerate(row.units) if not u.label]
    random.Random(seed).shuffle(negatives)
    return sorted(positives + negatives[: max(0, limit - len(positives))])


def unit_candidate(row: QuestionRows, i: int) -> Candidate:
    u = row.units[i]
    return Candidate(u.n, u.index, u.text, u.heading)


def question_loss(model, tokenizer, row: QuestionRows, picked: list[int]):
    import torch

    texts = [pair_text(unit_candidate(row, i)) for i in picked]
    logits = model(*pair_batch(tokenizer, row.question, texts))
    labels = torch.tensor([float(row.units[i].label) for i in picked])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    if labels.any():
        listwise = torch.logsumexp(logits, 0) - torch.logsumexp(logits[labels > 0], 0)
        loss = loss + listwise
    return loss


# -- checkpoints: assistant.training.lora.train's, with the head loaded beside the adapter -------


def load_weights(folder: Path, model) -> None:
    from safetensors.torch import load_file

    load_adapter_weights(folder, model.encoder)
    model.head.load_state_dict(load_file(str(folder / HEAD_FILE)))


# -- evaluation on the validation articles ------------------------------------------------


def validation_logits(model, tokenizer, rows: list[QuestionRows]) -> list[np.ndarray]:
    import torch
    from tqdm import tqdm

    model.eval()
    found = []
    with torch.inference_mode():
        for row in tqdm(rows, desc="Validación", unit="preg"):
            if not row.units:
                found.append(np.zeros(0))
                continue
            texts = [pair_text(unit_candidate(row, i)) for i in range(len(row.units))]
            logits = model(*pair_batch(tokenizer, row.question, texts))
            found.append(logits.float().numpy().astype(np.float64))
    model.train()
    return found


def fit_no_answer(rows: list[QuestionRows], logits: list[np.ndarray]):
    """The no-answer model on the validation questions: a question without an answering
    unit among its passages is a no-answer, whatever its label."""
    from assistant.training.selection.train import _fit_linear

    usable = [(r, s) for r, s in zip(rows, logits) if len(s)]
    matrix = np.array([no_answer_row(s) for _, s in usable])
    labels = np.array([int(not r.has_positive) for r, _ in usable])
    if len(set(labels.tolist())) < 2:
        raise AssistantError(
            "La validación necesita preguntas con y sin respuesta en sus pasajes: "
            "sube validation_share"
        )
    return _fit_linear(matrix, labels, None, 1.0)


def validation_report(rows: list[QuestionRows], logits: list[np.ndarray]) -> dict:
    from sklearn.metrics import roc_auc_score

    answered = [(r, s) for r, s in zip(rows, logits) if r.has_positive and len(s)]
    p_at_1 = np.mean([r.units[int(np.argmax(s))].label for r, s in answered])
    usable = [(r, s) for r, s in zip(rows, logits) if len(s)]
    labels = [int(not r.has_positive) for r, _ in usable]
    auc = roc_auc_score(labels, [-float(np.max(s)) for _, s in usable])
    return {
        "questions": len(rows),
        "answered": len(answered),
        "p_at_1": round(float(p_at_1), 4),
        "no_answer_auc_best_logit": round(float(auc), 4),
    }


# -- shared with the support cross-encoder (support/cross_train.py) ----------------------


def new_model(config):
    """(model, tokenizer, trainable parameters): e5-small in torch with a fresh LoRA adapter
    (``config``'s lora_r, lora_alpha and lora_dropout, on layer lora_from_layer and up) and
    a head (``cross.build_model``), in training mode."""
    from peft import LoraConfig, get_peft_model

    from index.embedders.e5_torch import load_e5_model

    encoder, tokenizer = load_e5_model("fp32")
    encoder = get_peft_model(
        encoder,
        LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=["query", "key", "value", "dense"],
            layers_to_transform=list(
                range(config.lora_from_layer, encoder.config.num_hidden_layers)
            ),
            layers_pattern="layer",
        ),
    )
    model = build_model(encoder)
    model.train()
    return model, tokenizer, [p for p in model.parameters() if p.requires_grad]


def resume(root: Path, config, data_key: dict, model, optimizer, scheduler):
    """(step, resumed_from, seconds) from the newest checkpoint under ``root``, loaded into
    ``model``, ``optimizer`` and ``scheduler``; (0, None, 0.0) when there is none. A
    checkpoint made with another configuration or other data is refused."""
    latest = step_dirs(root)[-1] if step_dirs(root) else None
    if latest is None:
        return 0, None, 0.0
    saved = json.loads((latest / "state.json").read_text(encoding="utf-8"))
    if saved["config"] != config.to_json() or saved["data"] != data_key:
        raise AssistantError(
            f"El punto de control {latest} se hizo con otra configuración u otros datos: "
            "bórralo para empezar de nuevo"
        )
    state = load_checkpoint(latest, model, optimizer, scheduler, load_weights)
    return state["step"], state["step"], state["seconds"]


def add_training_arguments(parser, out: Path, max_steps: int, checkpoints: str) -> None:
    """--out, --max-steps, --epochs and --checkpoints, as both trainers take them."""
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--max-steps", type=int, default=max_steps, help="0: the epochs decide")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument(
        "--checkpoints",
        type=Path,
        default=None,
        help=f"where the run's checkpoints go (default: {checkpoints}); a folder in the"
        " repository lets a run continue on another machine",
    )


def check_training_arguments(parser, args) -> None:
    if args.max_steps < 0 or args.epochs <= 0:
        parser.error("--max-steps debe ser >= 0 y --epochs > 0")


def save_model(out: Path, model, record_name: str, record: dict) -> None:
    """The adapter, the head and ``record`` (JSON) written to a staging folder, then renamed
    over ``out``: a failed save leaves the previous model in place."""
    staging = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    (staging / "README.md").unlink(missing_ok=True)  # peft's empty model card
    (staging / record_name).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


# -- the entry point ------------------------------------------------------------------------


def train_cross(rows: list[QuestionRows], out: Path, root: Path, config: CrossTrainConfig) -> dict:
    import torch
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup, set_seed

    began = time.perf_counter()
    torch.set_num_threads(config.threads)
    set_seed(config.seed)
    train, validation = split_groups(rows, config.validation_share, config.seed)
    train = [r for r in train if r.units]
    model, tokenizer, trainable = new_model(config)
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    per_epoch = len(epoch_order(train, config, 0))
    total = math.ceil(per_epoch * config.epochs / config.questions_per_step)
    if config.max_steps:
        total = min(total, config.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, total)

    data_key = {"questions": len(rows), "units": sum(len(r.units) for r in rows)}
    step, resumed_from, seconds_before = resume(root, config, data_key, model, optimizer, scheduler)
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "train_log.jsonl"
    trained_at = time.perf_counter()
    progress = tqdm(total=total, initial=step, desc="Entrenando el selector", unit="paso")
    with open(log_path, "a", encoding="utf-8") as log:
        while step < total:
            step_loss = 0.0
            for index, seed in step_questions(train, config, step):
                row = train[index]
                picked = sample_units(row, config.units_per_question, seed)
                loss = question_loss(model, tokenizer, row, picked) / config.questions_per_step
                loss.backward()
                step_loss += loss.item()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seconds = seconds_before + time.perf_counter() - trained_at
            log.write(
                json.dumps(
                    {"step": step, "loss": round(step_loss, 5), "seconds": round(seconds, 1)}
                )
                + "\n"
            )
            log.flush()
            progress.set_postfix(loss=f"{step_loss:.3f}")
            progress.update(1)
            if step % config.save_steps == 0 or step == total:
                save_checkpoint(
                    root,
                    model,
                    optimizer,
                    scheduler,
                    {
                        "step": step,
                        "seconds": seconds,
                        "config": config.to_json(),
                        "data": data_key,
                    },
                )
    progress.close()

    logits = validation_logits(model, tokenizer, validation)
    no_answer = fit_no_answer(validation, logits)
    report = {
        "train": config.to_json(),
        "data": data_key
        | {
            "train_questions": len(train),
            "validation_questions": len(validation),
            "notes_questions": sum(r.source == "notes" for r in train),
        },
        "steps": total,
        "resumed_from": resumed_from,
        "train_seconds": round(seconds_before + time.perf_counter() - trained_at, 1),
        "wall_seconds_this_run": round(time.perf_counter() - began, 1),
        "validation": validation_report(validation, logits),
        "trainable_parameters": sum(p.numel() for p in trainable),
    }
    save_model(out, model, MODEL_FILE, CrossModel(no_answer, report).to_json())
    return report


def main(argv: list[str] | None = None) -> int:
    from corpus.paths import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--squad", type=Path, default=Path("../shared/data/squad-es-v2.0-dev-small.json")
    )
    # ~180 steps x 4 questions: what fits the CPU budget of one session on 2 busy cores.
    add_training_arguments(parser, MODEL_DIR, 180, "the cache's selector/cross_checkpoints")
    args = parser.parse_args(argv)
    check_training_arguments(parser, args)
    config = CrossTrainConfig(max_steps=args.max_steps, epochs=args.epochs)
    cache = default_cache_dir() / "selector"
    rows = cached_rows(args.squad, cache / "squad_train")
    root = args.checkpoints or cache / "cross_checkpoints"
    report = train_cross(rows, args.out, root, config)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
