"""The policy's "before" thresholds over both dev sets: abstention on answerable and
unanswerable questions for every (min_similarity, min_coverage) pair.

    python -m eval.tune.abstention --out docs/results/abstention_before.json

Retrieval confidence depends on retrieval alone, so one pass per question scores every
threshold. Sets: the notes dev file and the SQuAD-es dev articles (never the held-out
files). Prints the grid as JSON.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

from assistant.abstain import AbstentionPolicy, retrieval_confidence
from eval.harness import emit

DEV_SETS = {
    "notes_dev": ("corpus/notes", "eval/data/notes_dev.jsonl"),
    "squad_es_dev": ("eval/data/squad_es/dev/notes", "eval/data/squad_es/dev/questions.jsonl"),
}
SIMILARITY = (0.80, 0.82, 0.83, 0.84, 0.845, 0.85, 0.86)
COVERAGE = (0.0, 0.2, 0.3, 0.4, 0.5)


def main(argv: list[str] | None = None) -> int:
    from corpus.questions import load_questions
    from eval.answers import limit_questions
    from index.store import open_index

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--passages", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    signals = {}
    for name, (notes, questions) in DEV_SETS.items():
        index = open_index(notes)[0]
        rows = limit_questions(load_questions(questions), args.limit)
        signals[name] = [
            (
                q.answerable,
                retrieval_confidence(index, q.question, index.search(q.question, k=args.passages)),
            )
            for q in rows
        ]
    grid = []
    for similarity, coverage in itertools.product(SIMILARITY, COVERAGE):
        policy = replace(AbstentionPolicy(), min_similarity=similarity, min_coverage=coverage)
        row = {"min_similarity": similarity, "min_coverage": coverage}
        for name, table in signals.items():
            answerable = [not policy.confident(c) for ok, c in table if ok]
            unanswerable = [not policy.confident(c) for ok, c in table if not ok]
            row[f"{name}_abstain_answerable"] = round(sum(answerable) / max(len(answerable), 1), 4)
            row[f"{name}_abstain_unanswerable"] = round(
                sum(unanswerable) / max(len(unanswerable), 1), 4
            )
        grid.append(row)
    report = {
        "questions": {n: len(t) for n, t in signals.items()},
        "grid": grid,
        "shipped": {
            "min_similarity": AbstentionPolicy.min_similarity,
            "min_coverage": AbstentionPolicy.min_coverage,
        },
    }
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
