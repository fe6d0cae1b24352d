"""Choose how much of a passage the evidence takes, on the dev sets.

    python -m eval.tune.evidence --out docs/results/evidence_tuning.json [--squad-limit 400]

For every question of the dev sets (``notes_train``: notes_dev without its held-out rows;
``ood_dev``: the water-cycle notes; ``squad_es_dev``: SQuAD-es dev articles indexed as
notes, never the test ones), the assistant's own steps run once: retrieval, the list
structure (``selection.lists``) and the selector. Then, without running anything again,
every pair of

- ``second_ratio`` (``EvidenceConfig``): add the passage's next best unit when it scores at
  least this share of the best (None: never);
- ``definition_next``: a definition question whose best unit opens its passage also gets
  the next unit;

is scored by the token F1 of the evidence quoted on the answerable rows. ``definition_next``
stays on (a product choice: a definition with its idea; its cost is in the grid) and the
ratio with the best mean over the sets is chosen (each set weighs the same, so that the
larger SQuAD-es file does not decide alone). The no-answer threshold is chosen with the
writer by ``eval.tune.no_answer``.

Known limit: notes_train also trained the ranker (assistant/training/selection/train.py), so its
scores are in-sample there; ood_dev and squad_es_dev are not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from assistant.abstain import retrieval_confidence
from assistant.selection.evidence import EvidenceConfig, choose_evidence, quote_evidence
from assistant.selection.lists import prefer_named, sibling_hits
from corpus.files import atomic_write_text, file_sha256
from corpus.questions import load_questions
from eval.answers import limit_questions
from eval.harness import DEV_SETS
from eval.metrics import best, token_f1

RATIOS = (0.3, 0.5, 0.7, 0.9, None)  # None: never a second unit
# (second_ratio, definition_next) pairs scored
CHOICES = tuple((ratio, nxt) for ratio in RATIOS for nxt in (True, False))


@dataclass
class Row:
    answerable: bool
    gated: bool  # the retrieval gate abstained before selecting
    no_answer: float  # kept for reading the rows; the threshold is eval.tune.no_answer's
    f1: dict[tuple, float]  # (second_ratio, definition_next) -> token F1, evidence quoted


def selection_rows(notes: str, questions: str, limit: int | None) -> list[Row]:
    from assistant.settings import load_assistant
    from index.store import open_index

    index = open_index(notes)[0]
    assistant = load_assistant(index, strategy="extractive")
    from assistant.training.selection.train import notes_train_questions

    rows = []
    everything = load_questions(questions)
    if questions == DEV_SETS["notes_train"][1]:
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


def has_answer_f1(rows: list[Row], choice: tuple) -> float | None:
    """Mean token F1 of the evidence quoted over the answerable rows (gate aside)."""
    values = [row.f1[choice] for row in rows if row.answerable]
    return round(statistics.mean(values), 4) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--squad-limit", type=int, default=400)
    args = parser.parse_args(argv)
    if args.squad_limit < 1:
        parser.error(f"--squad-limit must be >= 1, got {args.squad_limit}")
    per_set = {
        name: selection_rows(notes, questions, args.squad_limit if "squad" in name else None)
        for name, (notes, questions) in DEV_SETS.items()
    }
    grid = []
    for choice in CHOICES:
        cells = {name: has_answer_f1(rows, choice) for name, rows in per_set.items()}
        grid.append(
            {
                "second_ratio": choice[0],
                "definition_next": choice[1],
                "mean_f1": round(statistics.mean(cells.values()), 4),
                "sets": cells,
            }
        )
    # definition_next is a product choice (a definition with its idea), kept on; the
    # ratio is chosen under it.
    chosen = max((g for g in grid if g["definition_next"]), key=lambda g: g["mean_f1"])
    report = {
        "chosen": chosen,
        "grid": grid,
        "config": {
            "sets": {
                name: {"notes": notes, "questions": q, "sha256": file_sha256(q)}
                for name, (notes, q) in DEV_SETS.items()
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
