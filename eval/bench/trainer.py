"""The project's LoRA loop against transformers' Trainer, on the same examples and config.

    python -m eval.bench.trainer --data eval/data/lora_mix.jsonl --examples 16 \
        --out docs/results/trainer.json

Both train the same LoRA (same config, seed, one torch thread) on the first ``--examples``
rows for one epoch, and both use the completion-only loss with ``logits_to_keep`` (the
Trainer through a ``compute_loss`` override: its default loss computes the 262k-word
output layer over every prompt position). Seconds per optimizer step, medians over the
steps after the first (which pays for warm-up), are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from assistant.training.lora.config import KNOWN_MODULES, LoraTrainConfig
from assistant.training.lora.data import read_examples
from assistant.training.lora.train import (
    add_lora,
    collate,
    completion_loss,
    encode_example,
    load_base,
    model_folder,
    train_lora,
)
from eval.harness import emit


def hand_loop(base: str, data: Path, config: LoraTrainConfig) -> list[float]:
    with tempfile.TemporaryDirectory() as out:
        train_lora(base, data, Path(out), config, resume=False)
        log = [
            json.loads(line) for line in (Path(out) / "train_log.jsonl").read_text().splitlines()
        ]
    return [row["step_seconds"] for row in log]


def hf_trainer(base: str, data: Path, config: LoraTrainConfig) -> list[float]:
    import torch
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    torch.set_num_threads(config.torch_threads)
    set_seed(config.seed)
    tokenizer, model = load_base(model_folder(base))
    model = add_lora(model, config)
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    encoded = [encode_example(tokenizer, r["prompt"], r["completion"]) for r in read_examples(data)]

    class CompletionTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return completion_loss(model, inputs)

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(round(time.perf_counter() - self.began, 2))

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=config.batch_size,
            gradient_accumulation_steps=config.grad_accumulation,
            num_train_epochs=config.epochs,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_steps,
            lr_scheduler_type="linear",
            max_grad_norm=config.max_grad_norm,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_steps=1,
            seed=config.seed,
            dataloader_num_workers=0,
            remove_unused_columns=False,
            disable_tqdm=True,
        )
        trainer = CompletionTrainer(
            model=model,
            args=args,
            train_dataset=encoded,
            data_collator=lambda batch: collate(batch, pad_id),
            callbacks=[Timer()],
        )
        trainer.train()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("eval/data/lora_mix.jsonl"))
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--base", default="gemma-270m")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = args.data.read_text(encoding="utf-8").splitlines()[: args.examples]
    config = replace(
        LoraTrainConfig(),
        rank=16,
        alpha=32,
        target_modules=KNOWN_MODULES,
        warmup_steps=1,
        save_steps=1000,
    )
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "subset.jsonl"
        subset.write_text("\n".join(rows) + "\n", encoding="utf-8")
        results = {}
        for name, run in (("hand_loop", hand_loop), ("hf_trainer", hf_trainer)):
            steps = run(args.base, subset, config)
            results[name] = {
                "step_seconds": steps,
                "median_after_first": statistics.median(steps[1:] or steps),
            }
    results["ratio_trainer_over_loop"] = round(
        results["hf_trainer"]["median_after_first"] / results["hand_loop"]["median_after_first"], 3
    )
    results["config"] = config.to_json()
    results["examples"] = args.examples
    emit(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
