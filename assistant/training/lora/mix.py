"""The reader's training set: SQuAD-es examples mixed with the notes' own examples.

    python -m assistant.training.lora.mix --squad ../shared/data/squad-es-v2.0-dev-small.json \
        --out eval/data/lora_mix.jsonl

1. SQuAD-es is split by article with a seed (``eval/data/squad_es/split.json``); the dev
   and test articles are written as notes folders with their question files
   (``eval/data/squad_es/{dev,test}/``), the train articles as a notes folder in the cache.
2. The train articles are indexed with the project's own index, so each example's
   distractors are what retrieval really returns for its question.
3. The notes' rows (answer, abstention and cot, ``assistant.training.lora.data``) and the SQuAD-es
   rows are shuffled together into ``--out``, with ``<name>.config.json`` beside it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.training.lora.config import LoraTrainConfig
from assistant.training.lora.data import notes_rows
from assistant.training.lora.squad import (
    ATTRIBUTION,
    SquadExampleConfig,
    load_squad,
    question_rows,
    split_articles,
    squad_examples,
    write_notes,
)
from corpus.files import atomic_write_text, file_sha256

SQUAD_DIR = Path("eval/data/squad_es")


@dataclass(frozen=True)
class MixConfig:
    squad: SquadExampleConfig = field(default_factory=SquadExampleConfig)
    notes_cot: int = 60  # cot rows from the notes (of the ~85 training questions)
    dev_articles: int = 4  # for choosing training settings
    test_articles: int = 8  # held out, reported
    split_seed: int = 0


def write_eval_files(articles, split, root: Path) -> dict:
    """Dev and test articles as notes folders with their question files."""
    written = {}
    for side in ("dev", "test"):
        chosen = [a for a in articles if a.title in getattr(split, side)]
        folder = root / side
        notes = write_notes(chosen, folder / "notes")
        rows = question_rows(chosen, seed=split.seed)
        questions = folder / "questions.jsonl"
        atomic_write_text(
            questions, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
        written[side] = {
            "notes": len(notes),
            "questions": len(rows),
            "unanswerable": sum(not r["answerable"] for r in rows),
        }
    (root / "README.md").write_text(
        "# SQuAD-es articles as notes\n\n" + ATTRIBUTION + "\n\n"
        "Written by `python -m assistant.training.lora.mix` (see its docstring). `split.json` names the "
        "train, dev and test articles (split by article, seed in the file). `dev/` and `test/` "
        "each hold `notes/` (one Markdown note per article) and `questions.jsonl` (the "
        "project's question format; `evidence` is the sentence holding the answer; rows "
        "shuffled with the split seed, so the first N are a random sample). `test/` is held "
        "out: report on it, never tune on it.\n",
        encoding="utf-8",
    )
    return written


def build_mix(
    squad_path: Path,
    out: Path,
    notes_dir: Path,
    dev_questions: Path,
    cache: Path,
    config: MixConfig | None = None,
    train_config: LoraTrainConfig | None = None,
) -> dict:
    from index.store import NotesIndex, build_index

    config, train_config = config or MixConfig(), train_config or LoraTrainConfig()

    articles, load_report = load_squad(squad_path)
    split = split_articles(
        articles,
        config.split_seed,
        config.dev_articles,
        config.test_articles,
        file_sha256(squad_path),
    )
    SQUAD_DIR.mkdir(parents=True, exist_ok=True)
    (SQUAD_DIR / "split.json").write_text(
        json.dumps(split.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    eval_files = write_eval_files(articles, split, SQUAD_DIR)

    train_articles = [a for a in articles if a.title in split.train]
    train_notes = cache / "train_notes"
    write_notes(train_articles, train_notes)
    build_index(train_notes, cache / "train_index", progress=True)
    index = NotesIndex.load(cache / "train_index")
    squad_rows, squad_report = squad_examples(index, train_articles, config.squad)

    own_rows, _ = notes_rows(notes_dir, dev_questions, train_config, cot=config.notes_cot)
    for row in own_rows:
        row["source"] = "notes"
    rows = squad_rows + own_rows
    random.Random(config.squad.seed).shuffle(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    provenance = {
        "mix": asdict(config),
        "notes_config": train_config.to_json(),
        "squad": str(squad_path),
        "squad_sha256": split.source_sha256,
        "split": str(SQUAD_DIR / "split.json"),
        "notes_dir": str(notes_dir),
        "dev_questions": str(dev_questions),
        "dev_questions_sha256": file_sha256(dev_questions),
        "load": asdict(load_report),
        "squad_examples": asdict(squad_report),
        "kinds": dict(Counter(f"{r['source']}:{r['kind']}" for r in rows)),
        "eval_files": eval_files,
        "attribution": ATTRIBUTION,
    }
    out.with_suffix(".config.json").write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return provenance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("eval/data/lora_mix.jsonl"))
    parser.add_argument("--notes", type=Path, default=Path("corpus/notes"))
    parser.add_argument("--dev-questions", type=Path, default=Path("eval/data/notes_dev.jsonl"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/squad_es"))
    parser.add_argument("--answers", type=int, default=SquadExampleConfig.answers)
    parser.add_argument("--abstentions", type=int, default=SquadExampleConfig.abstentions)
    parser.add_argument("--cot", type=int, default=SquadExampleConfig.cot)
    parser.add_argument("--notes-cot", type=int, default=MixConfig.notes_cot)
    args = parser.parse_args(argv)
    config = MixConfig(
        squad=SquadExampleConfig(args.answers, args.abstentions, args.cot), notes_cot=args.notes_cot
    )
    report = build_mix(args.squad, args.out, args.notes, args.dev_questions, args.cache, config)
    json.dump(
        {k: report[k] for k in ("kinds", "load", "squad_examples", "eval_files")},
        sys.stdout,
        indent=2,
        ensure_ascii=False,
    )
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
