"""Choose the evidence selector's no-answer threshold and the second unit's ratio on the
dev sets.

    python -m eval.tune_evidence --out docs/results/evidence_tuning.json [--squad-limit 400]

For every question of the dev sets (``notes_train``: notes_dev without its held-out rows;
``ood_dev``: the water-cycle notes, the only notes-like unanswerable questions outside the
held-out file; ``squad_es_dev``: SQuAD-es dev articles indexed as notes, never the test
ones), the assistant's own steps run once:
retrieval, the retrieval gate (``AbstentionPolicy.before``, as shipped) and the selector.
Then, without running anything again, every pair of

- ``max_no_answer`` (``AbstentionPolicy``): abstain when the selector's no-answer score is
  above it;
- ``second_ratio`` (``EvidenceConfig``): add the passage's next best unit when it scores at
  least this share of the best;

is scored by SQuAD v2's overall F1 of the extractive answer (the evidence quoted): an
answerable question scores its token F1 when answered and 0 when abstained, an
unanswerable one 1 when abstained and 0 when answered. The pair with the best mean of the
per-set overall F1 is chosen (each set weighs the same, so that the larger SQuAD-es file
does not decide alone). The writer is not run: it writes from the evidence, so the
extractive answer's F1 is the quantity the selection controls.

Known limit: notes_train also trained the ranker (assistant/selection/train.py), so its
scores are in-sample there; ood_dev and squad_es_dev are not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from assistant.abstain import retrieval_confidence
from assistant.selection.evidence import EvidenceConfig, choose_evidence, quote_evidence
from assistant.selection.lists import prefer_named, sibling_hits
from corpus.files import atomic_write_text, file_sha256
from corpus.questions import load_questions
from eval.answers import best, limit_questions, token_f1

SETS = {
    # notes_dev without its held-out rows (the held-out file is a subset of it).
    "notes_train": ("corpus/notes", "eval/data/notes_dev.jsonl"),
    "ood_dev": ("eval/data/ood_notes", "eval/data/ood_dev.jsonl"),
    "squad_es_dev": ("eval/data/squad_es/dev/notes", "eval/data/squad_es/dev/questions.jsonl"),
}
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 1.0001, 0.05))
RATIOS = (0.3, 0.5, 0.7, 0.9, None)  # None: never a second unit
# (second_ratio, definition_next) pairs scored
CHOICES = tuple((ratio, nxt) for ratio in RATIOS for nxt in (True, False))


@dataclass
class Row:
    answerable: bool
    gated: bool  # the retrieval gate abstained before selecting
    no_answer: float
    f1: dict[tuple, float]  # (second_ratio, definition_next) -> token F1, evidence quoted


def selection_rows(notes: str, questions: str, limit: int | None) -> list[Row]:
    from assistant.session import load_assistant, open_index

    index = open_index(None, notes)
    assistant = load_assistant(index, strategy="extractive")
    from assistant.selection.train import notes_train_questions

    rows = []
    everything = load_questions(questions)
    if questions == SETS["notes_train"][1]:
        everything = notes_train_questions()
    for question in limit_questions(everything, limit):
        asked = " ".join(question.question.split())
        hits = index.search(asked, k=assistant.config.passages)
        confidence = retrieval_confidence(index, asked, hits)
        gated = assistant.policy.before(confidence) is not None
        hits = sibling_hits(index.chunks, hits, asked)
        selected = assistant.selector.select(asked, hits, index.query_vector(asked))
        selection = prefer_named(asked, selected, hits)
        f1 = {}
        for choice in CHOICES:
            ratio, following = choice
            config = replace(
                assistant.config.evidence, second_ratio=ratio, definition_next=following
            )
            evidence = choose_evidence(asked, selection, config)
            text = quote_evidence(evidence) if evidence else ""
            f1[choice] = best(token_f1, text, question.answers) if question.answerable else 0.0
        rows.append(Row(question.answerable, gated, selection.no_answer, f1))
    return rows


def overall_f1(rows: list[Row], threshold: float, ratio: tuple) -> dict:
    """SQuAD v2 overall F1 and the abstention rates under one (threshold, ratio)."""
    scores, abstained_answerable, abstained_unanswerable = [], [], []
    for row in rows:
        abstains = row.gated or row.no_answer > threshold
        if row.answerable:
            scores.append(0.0 if abstains else row.f1[ratio])
            abstained_answerable.append(abstains)
        else:
            scores.append(1.0 if abstains else 0.0)
            abstained_unanswerable.append(abstains)

    def mean(values) -> float | None:
        return round(statistics.mean(values), 4) if values else None

    return {
        "overall_f1": mean(scores),
        "has_answer_f1": mean([r.f1[ratio] for r in rows if r.answerable]),
        "abstain_answerable": mean([float(a) for a in abstained_answerable]),
        "abstain_unanswerable": mean([float(a) for a in abstained_unanswerable]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--squad-limit", type=int, default=400)
    args = parser.parse_args(argv)
    if args.squad_limit < 1:
        parser.error(f"--squad-limit must be >= 1, got {args.squad_limit}")
    per_set = {
        name: selection_rows(notes, questions, args.squad_limit if "squad" in name else None)
        for name, (notes, questions) in SETS.items()
    }
    grid = []
    for threshold in THRESHOLDS:
        for choice in CHOICES:
            cells = {name: overall_f1(rows, threshold, choice) for name, rows in per_set.items()}
            mean = statistics.mean(c["overall_f1"] for c in cells.values())
            grid.append(
                {
                    "max_no_answer": threshold,
                    "second_ratio": choice[0],
                    "definition_next": choice[1],
                    "mean_overall_f1": mean,
                    "sets": cells,
                }
            )
    chosen = max(grid, key=lambda g: g["mean_overall_f1"])
    report = {
        "chosen": chosen,
        "grid": grid,
        "config": {
            "sets": {
                name: {"notes": notes, "questions": q, "sha256": file_sha256(q)}
                for name, (notes, q) in SETS.items()
            },
            "squad_limit": args.squad_limit,
            "n": {name: len(rows) for name, rows in per_set.items()},
            "evidence_config": asdict(EvidenceConfig()),
        },
    }
    atomic_write_text(args.out, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    json.dump(chosen, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
