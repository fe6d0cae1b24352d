"""Train candidate (a), the pointer (``assistant.selection.pointer``): a LoRA adapter over
Gemma 270M that writes the letter of the answering unit, or ``ninguna``.

The questions are the cross-encoder's (``cross_data``): SQuAD-es **train** articles (never
dev or test) and the notes' dev questions outside the held-out sections, each with the
units of its top 3 retrieved passages labelled by ``holds_evidence``. A tenth of the
SQuAD-es articles is held out whole, as for the cross-encoder, and never trained on.
The completion is the letter of the first unit that holds the evidence, or ``ninguna``
when none does (an unanswerable question, or one whose evidence was not retrieved).

Every notes question is drawn ``notes_copies`` times with its passages in another order,
so the right letter is not always near the top; SQuAD-es questions are sampled (seeded)
to fit the CPU budget: an 800-token example costs ~5-10 s of training on one thread.

The rows go to ``OUT/../pointer_data.jsonl`` and the training is ``lora.train.train_lora``
(completion-only loss, resumable checkpoints under ``OUT/checkpoints``)::

    python -m assistant.training.selection.pointer_train --out eval/runs/pointer/model
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from assistant.selection.base import Candidate
from assistant.selection.pointer import LETTERS, pointer_answer, pointer_prompt
from assistant.training.lora.config import LoraTrainConfig
from assistant.training.selection.cross_data import (
    QuestionRows,
    load_rows,
    retrieved_rows,
    split_groups,
)


@dataclass(frozen=True)
class PointerDataConfig:
    squad_answerable: int = 360  # SQuAD-es train questions whose evidence was retrieved
    squad_none: int = 120  # ... and whose retrieved units hold no evidence
    notes_copies: int = 3  # draws of each notes question's passage order
    validation_share: float = 0.1  # as the cross-encoder: the same articles held out
    seed: int = 0


# Low rank and attention only, as the reader adapter: the skill is a format (point at a
# letter) over what the base already reads. One thread: see LoraTrainConfig.torch_threads.
TRAIN_CONFIG = LoraTrainConfig(
    rank=8,
    alpha=16,
    learning_rate=3e-4,
    warmup_steps=8,
    grad_accumulation=4,
    max_seq_len=1280,
    save_steps=4,
    keep_checkpoints=True,  # the run's last checkpoint is committed: a session may end mid-run
)


def reordered(row: QuestionRows, order: list[int]) -> list[tuple[Candidate, int]]:
    """The row's units as Candidates with their passages shown in ``order`` (old n's) and
    numbered 1.. in that order, each with its label."""
    out = []
    for new_n, old_n in enumerate(order, start=1):
        out += [
            (Candidate(new_n, u.index, u.text, u.heading), u.label)
            for u in row.units
            if u.n == old_n
        ]
    return out


def example(row: QuestionRows, order: list[int], kind: str) -> dict:
    units = reordered(row, order)[: len(LETTERS)]
    position = next((i for i, (_, label) in enumerate(units) if label), None)
    return {
        "id": row.id,
        "kind": kind,
        "prompt": pointer_prompt(row.question, [u for u, _ in units]),
        "completion": pointer_answer(position),
    }


def pointer_rows(rows: list[QuestionRows], config: PointerDataConfig) -> list[dict]:
    rng = random.Random(config.seed)
    train, _ = split_groups(rows, config.validation_share, config.seed)
    train = [r for r in train if r.units]
    examples = []
    for row in (r for r in train if r.source == "notes"):
        passages = sorted({u.n for u in row.units})
        for copy in range(config.notes_copies):
            order = passages[:] if copy == 0 else rng.sample(passages, len(passages))
            examples.append(example(row, order, "notes"))
    squad = [r for r in train if r.source == "squad"]
    found = [r for r in squad if r.has_positive]
    missing = [r for r in squad if not r.has_positive]
    rng.shuffle(found)
    rng.shuffle(missing)
    for row in found[: config.squad_answerable] + missing[: config.squad_none]:
        examples.append(example(row, sorted({u.n for u in row.units}), "squad"))
    rng.shuffle(examples)
    return examples


def training_rows(squad: Path, cache: Path, config: PointerDataConfig) -> list[QuestionRows]:
    """The notes' training questions and a seeded sample of the SQuAD-es train questions
    (the ranker's draw, ``selection.train.squad_train_questions``), each retrieved as the
    assistant retrieves. Only the sample is retrieved (a question costs ~0.5-1.5 s here,
    so the cross-encoder's 3,000 would take an hour); a quarter more answerable ones than
    needed, as retrieval misses the evidence of some. Cached in ``cache``."""
    from assistant.training.selection.train import (
        TrainConfig,
        notes_train_questions,
        squad_train_questions,
    )
    from corpus.files import atomic_write_text

    path = cache / (
        f"pointer-rows-a{config.squad_answerable}-n{config.squad_none}-s{config.seed}.jsonl"
    )
    if path.is_file():
        return load_rows(path)
    squad_notes, questions = squad_train_questions(squad, cache, TrainConfig(seed=config.seed))
    answerable = [q for q in questions if q.answerable][: config.squad_answerable * 5 // 4]
    impossible = [q for q in questions if not q.answerable][: config.squad_none]
    rows = retrieved_rows(
        [
            (Path("corpus/notes"), notes_train_questions(), "notes"),
            (squad_notes, answerable + impossible, "squad"),
        ],
        3,
    )
    atomic_write_text(
        path, "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in rows)
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    from assistant.training.lora.train import train_lora
    from corpus.files import atomic_write_text
    from corpus.paths import default_cache_dir

    parser = argparse.ArgumentParser(prog="python -m assistant.training.selection.pointer_train")
    parser.add_argument("--out", type=Path, required=True, help="the adapter's folder")
    parser.add_argument(
        "--squad", type=Path, default=Path("../shared/data/squad-es-v2.0-dev-small.json")
    )
    parser.add_argument("--squad-answerable", type=int, default=PointerDataConfig.squad_answerable)
    parser.add_argument("--squad-none", type=int, default=PointerDataConfig.squad_none)
    args = parser.parse_args(argv)
    if args.squad_answerable < 0 or args.squad_none < 0:
        parser.error("--squad-answerable y --squad-none deben ser >= 0")
    if not args.squad.is_file():
        parser.error(f"no existe {args.squad}")

    data_config = PointerDataConfig(
        squad_answerable=args.squad_answerable, squad_none=args.squad_none
    )
    rows = training_rows(args.squad, default_cache_dir() / "selector" / "squad_train", data_config)
    examples = pointer_rows(rows, data_config)
    data = args.out.parent / "pointer_data.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples)
    if not data.is_file() or data.read_text(encoding="utf-8") != text:
        atomic_write_text(data, text)
    atomic_write_text(
        args.out.parent / "pointer_data_config.json", json.dumps(asdict(data_config), indent=1)
    )
    warmup = max(1, len(examples) // TRAIN_CONFIG.grad_accumulation // 10)
    summary = train_lora("gemma-270m", data, args.out, replace(TRAIN_CONFIG, warmup_steps=warmup))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
