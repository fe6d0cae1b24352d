"""Configuration of LoRA training: the dataset it is built from and the run itself.

One dataclass for both because the dataset is part of the experiment: the JSON written
beside ``lora_train.jsonl`` and beside the adapter (``train_config.json``) is this config,
so either artefact says how it was produced.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from corpus.errors import SettingsError

# Gemma 3's attention projections; peft matches these names as module-name suffixes.
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
KNOWN_MODULES = ATTENTION_MODULES + ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraTrainConfig:
    # -- the adapter ----------------------------------------------------------------------
    rank: int = 8  # the skill is a format (cite, stop, abstain), not new facts: low rank does
    alpha: int = 16  # scale alpha/rank = 2, the usual LoRA setting
    dropout: float = 0.05  # ~250 examples: a little regularisation against memorising them
    # Attention only: the MLPs would triple the trainable weights and the step time.
    target_modules: tuple[str, ...] = ATTENTION_MODULES

    # -- the optimisation -----------------------------------------------------------------
    # ~73 optimizer steps: the top of the LoRA paper's 2e-4..5e-4; gradients clipped at 1.
    learning_rate: float = 5e-4
    warmup_steps: int = 7  # ~10% of the steps, then linear decay to 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    epochs: int = 1  # each question already comes in `variants` passage draws
    # One example per forward pass: prompts differ in length by up to 2x, and on a CPU
    # padding is paid in full. The effective batch is batch_size * grad_accumulation.
    batch_size: int = 1
    grad_accumulation: int = 4
    # Longest prompt + answer in tokens. Examples with 3 whole passages measure 320-770
    # Gemma tokens (mean 514); longer ones are skipped and counted, never cut (a cut
    # prompt would lose its question or the passage with the answer).
    max_seq_len: int = 1024
    seed: int = 0
    # Measured on this 2-core machine while other jobs ran: 4-7 s per example with one
    # thread, 20-30 s with two (the threads wait on each other). One thread is also
    # reproducible across machines with different core counts.
    torch_threads: int = 1
    save_steps: int = 10  # optimizer steps between checkpoints (~2-3 min of work each)
    keep_checkpoints: bool = False  # a finished adapter ships without its checkpoints

    # -- the dataset ------------------------------------------------------------------------
    # Share of the sections with dev questions held out for evaluation (split by section,
    # so no held-out question, answer or passage is ever seen in training).
    eval_fraction: float = 0.3
    distractors: int = (
        2  # passages from other sections beside the right one: 3 in all, as at inference
    )
    # Of all examples: only distractors -> the abstention sentence. Kept low because greedy
    # decoding picks the single likeliest first token: every abstention starts with " No",
    # while answers spread their mass over many first tokens. At 0.25 the adapter abstained
    # on 5 of 8 *training* questions; retrieval confidence and the support check abstain
    # for it anyway (assistant/abstain.py).
    abstain_fraction: float = 0.12
    variants: int = 3  # draws of distractors and order per question, so the right [n] varies
    # Training passages longer than this are cut at a line or sentence boundary (never
    # before the evidence of the answer). The default is ChunkConfig.chunk_size, so the
    # notes' passages are shown whole, as at inference: cutting them at 700 characters
    # saved only 7% of the tokens (mean 478 vs 514 per example, measured), not worth
    # training on shorter passages than the model will read. Lower it for notes indexed
    # with bigger chunks.
    passage_chars: int = 1200

    def __post_init__(self) -> None:
        # Loaded from JSON, a tuple arrives as a list.
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        positive = (
            "rank",
            "alpha",
            "epochs",
            "batch_size",
            "grad_accumulation",
            "save_steps",
            "variants",
            "torch_threads",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SettingsError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise SettingsError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise SettingsError("target_modules must name at least one module, got ()")
        unknown = [m for m in self.target_modules if m not in KNOWN_MODULES]
        if unknown:
            raise SettingsError(
                f"target_modules has unknown modules {unknown}; choose from {list(KNOWN_MODULES)}"
            )
        if not 0.0 < self.learning_rate <= 1e-2:
            raise SettingsError(f"learning_rate must be in (0, 0.01], got {self.learning_rate}")
        if self.warmup_steps < 0:
            raise SettingsError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.weight_decay < 0:
            raise SettingsError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.max_grad_norm <= 0:
            raise SettingsError(f"max_grad_norm must be positive, got {self.max_grad_norm}")
        if not 64 <= self.max_seq_len <= 32768:
            raise SettingsError(
                f"max_seq_len must be in [64, 32768] tokens, got {self.max_seq_len}"
            )
        if not 0.0 < self.eval_fraction < 1.0:
            raise SettingsError(f"eval_fraction must be in (0, 1), got {self.eval_fraction}")
        if not 0 <= self.distractors <= 9:
            raise SettingsError(f"distractors must be in [0, 9], got {self.distractors}")
        if not 0.0 <= self.abstain_fraction < 1.0:
            raise SettingsError(f"abstain_fraction must be in [0, 1), got {self.abstain_fraction}")
        if self.abstain_fraction > 0 and self.distractors < 1:
            raise SettingsError(
                f"abstain_fraction={self.abstain_fraction} needs distractors >= 1 "
                f"(an abstention example shows only distractors), got {self.distractors}"
            )
        if self.passage_chars < 100:
            raise SettingsError(
                f"passage_chars must be >= 100 characters, got {self.passage_chars}"
            )

    @property
    def passages(self) -> int:
        """Passages per example (the right one plus the distractors)."""
        return self.distractors + 1

    def to_json(self) -> dict:
        payload = asdict(self)
        payload["target_modules"] = list(self.target_modules)
        return payload

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )

    @classmethod
    def from_json(cls, payload: dict) -> LoraTrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise SettingsError(f"unknown LoraTrainConfig fields {unknown}")
        return cls(**payload)

    @classmethod
    def load(cls, path: Path) -> LoraTrainConfig:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
