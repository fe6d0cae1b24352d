"""Train the cross-encoder support scorer (``support/cross/``) on synthetic pairs only.

    python -m assistant.training.support.cross_train [--out assistant/support/cross]
        [--checkpoints DIR] [--max-steps 0]

The pairs are the learned scorer's training half (``support.train.cached_pairs``: the
SQuAD-es train articles' first half and the notes outside the held-out sections). A tenth
of their articles and notes is held out whole as validation: it chooses the threshold (best
balanced accuracy) on pairs the encoder never saw. Each pair is read as the checker reads it
(``support.cross.evidence_text``: the aligned unit and the runner-up, from the hand-weighted
checker's parts).

Each optimizer step is one batch of ``batch_size`` pairs, the loss their binary
cross-entropy. Resumable like the selector's: a checkpoint every ``save_steps`` steps,
renamed into place; the data order is a function of the seed and the step only.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.selection.cross import MAX_LEN
from assistant.support.cross import MODEL_DIR, MODEL_FILE, evidence_text
from assistant.training.lora.train import save_checkpoint
from assistant.training.selection.cross_train import (
    EncoderTrainConfig,
    add_training_arguments,
    check_training_arguments,
    new_model,
    resume,
    save_model,
)


@dataclass(frozen=True)
class SupportCrossConfig(EncoderTrainConfig):
    warmup_steps: int = 20
    batch_size: int = 16
    save_steps: int = 25


@dataclass(frozen=True)
class Example:
    sentence: str
    evidence: str
    label: int
    group: str
    kind: str


def examples(seed: int) -> list[Example]:
    """The training pairs as the checker reads them; pairs with nothing to check dropped."""
    from assistant.training.support.train import cached_pairs, pair_parts, training_checker

    pairs = cached_pairs(seed)["train"]
    parts = pair_parts(training_checker(), pairs)
    return [
        Example(p.sentence, evidence_text(found), int(p.supported), p.group, p.kind)
        for p, found in zip(pairs, parts)
        if found is not None
    ]


def split(rows: list[Example], share: float, seed: int) -> tuple[list[Example], list[Example]]:
    groups = sorted({r.group for r in rows})
    random.Random(f"support-cross-{seed}").shuffle(groups)
    held = set(groups[: max(1, round(share * len(groups)))])
    return [r for r in rows if r.group not in held], [r for r in rows if r.group in held]


def batch_rows(count: int, config: SupportCrossConfig, step: int) -> list[int]:
    """Example indices of optimizer step ``step``: epochs of a seeded shuffle."""
    picked = []
    for position in range(step * config.batch_size, (step + 1) * config.batch_size):
        epoch, offset = divmod(position, count)
        order = list(range(count))
        random.Random(f"{config.seed}-{epoch}").shuffle(order)
        picked.append(order[offset])
    return picked


def encode(tokenizer, rows: list[Example]):
    return tokenizer.pad_batch(
        [tokenizer.encode_pair(r.sentence, r.evidence, MAX_LEN) for r in rows]
    )


def validation_probabilities(model, tokenizer, rows: list[Example]) -> np.ndarray:
    import torch
    from tqdm import tqdm

    model.eval()
    found = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(rows), 32), desc="Validación", unit="lote"):
            logits = model(*encode(tokenizer, rows[start : start + 32]))
            found.append(torch.sigmoid(logits.float()).numpy())
    model.train()
    return np.concatenate(found) if found else np.zeros(0)


def train_support_cross(
    rows: list[Example], out: Path, root: Path, config: SupportCrossConfig
) -> dict:
    import torch
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup, set_seed

    from assistant.training.support.train import best_threshold

    began = time.perf_counter()
    torch.set_num_threads(config.threads)
    set_seed(config.seed)
    train, validation = split(rows, config.validation_share, config.seed)
    model, tokenizer, trainable = new_model(config)
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    total = math.ceil(len(train) * config.epochs / config.batch_size)
    if config.max_steps:
        total = min(total, config.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, total)

    data_key = {"pairs": len(rows), "train": len(train), "validation": len(validation)}
    step, resumed_from, seconds_before = resume(root, config, data_key, model, optimizer, scheduler)
    root.mkdir(parents=True, exist_ok=True)
    trained_at = time.perf_counter()
    progress = tqdm(total=total, initial=step, desc="Entrenando el verificador", unit="paso")
    with open(root / "train_log.jsonl", "a", encoding="utf-8") as log:
        while step < total:
            batch = [train[i] for i in batch_rows(len(train), config, step)]
            logits = model(*encode(tokenizer, batch))
            labels = torch.tensor([float(r.label) for r in batch])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seconds = seconds_before + time.perf_counter() - trained_at
            record = {"step": step, "loss": round(loss.item(), 5), "seconds": round(seconds, 1)}
            log.write(json.dumps(record) + "\n")
            log.flush()
            progress.set_postfix(loss=f"{loss.item():.3f}")
            progress.update(1)
            if step % config.save_steps == 0 or step == total:
                state = {"step": step, "seconds": seconds, "config": config.to_json()}
                save_checkpoint(root, model, optimizer, scheduler, state | {"data": data_key})
    progress.close()

    probabilities = validation_probabilities(model, tokenizer, validation)
    labels = np.array([r.label for r in validation])
    threshold = best_threshold(labels, probabilities)
    report = {
        "train": config.to_json(),
        "data": data_key,
        "steps": total,
        "resumed_from": resumed_from,
        "train_seconds": round(seconds_before + time.perf_counter() - trained_at, 1),
        "wall_seconds_this_run": round(time.perf_counter() - began, 1),
        "validation": {
            "auc": round(float(roc_auc_score(labels, probabilities)), 4),
            "balanced_accuracy": round(
                float(balanced_accuracy_score(labels, probabilities >= threshold)), 4
            ),
        },
    }
    save_model(out, model, MODEL_FILE, {"threshold": round(threshold, 6), "report": report})
    return report | {"threshold": threshold}


def main(argv: list[str] | None = None) -> int:
    from assistant.training.support.train import training_cache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser, MODEL_DIR, 0, "the cache's support_train/cross_checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    check_training_arguments(parser, args)
    config = SupportCrossConfig(max_steps=args.max_steps, epochs=args.epochs, seed=args.seed)
    rows = examples(args.seed)
    root = args.checkpoints or training_cache() / "cross_checkpoints"
    report = train_support_cross(rows, args.out, root, config)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
