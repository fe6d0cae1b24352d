"""Choose the extractive quoter's weights on the dev sets (never on held-out files).

    python -m eval.tune.quoter --out docs/results/quoter_tuning.json

Features are computed once per question (retrieval at the assistant's default 3
passages, e5 cosines, stem overlap), then every weight combination of the grid is scored
by token F1 over the answerable questions of each set. The objective is the mean of the
sets' F1s, so neither set decides alone. Prints and writes the table as JSON.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import asdict, replace
from pathlib import Path

from assistant.quoter import Quoter, QuoterConfig, unit_sentence
from eval.harness import emit
from eval.metrics import best, token_f1

DEV_SETS = {
    "notes_dev": ("corpus/notes", "eval/data/notes_dev.jsonl"),
    "squad_es_dev": ("eval/data/squad_es/dev/notes", "eval/data/squad_es/dev/questions.jsonl"),
}
GRID = {
    "semantic_weight": (0.0, 0.5, 1.0),
    "lexical_weight": (0.0, 0.25, 0.5, 1.0),
    "rank_weight": (0.0, 0.1, 0.2, 0.4),
    "first_weight": (0.0, 0.1, 0.2, 0.4),
    "second_margin": (0.0, 0.05, 0.15),
}


def set_features(quoter: Quoter, notes: str, questions: str, limit: int, passages: int):
    from corpus.questions import load_questions
    from index.store import open_index

    index = open_index(notes)[0]
    rows = [q for q in load_questions(questions) if q.answerable][:limit]
    return [
        (
            q,
            quoter.features(
                q.question, index.search(q.question, k=passages), index.query_vector(q.question)
            ),
        )
        for q in rows
    ]


def mean_f1(quoter: Quoter, table, config: QuoterConfig) -> float:
    total = 0.0
    for question, features in table:
        chosen = quoter.select(features, config)
        text = " ".join(unit_sentence(u.text) for u in chosen)
        total += best(token_f1, text, question.answers)
    return total / max(len(table), 1)


def main(argv: list[str] | None = None) -> int:
    from assistant.support import SupportChecker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300, help="answerable questions per set")
    parser.add_argument("--passages", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    quoter = Quoter(SupportChecker().unit_vectors)
    tables = {
        name: set_features(quoter, notes, questions, args.limit, args.passages)
        for name, (notes, questions) in DEV_SETS.items()
    }
    results = []
    names = list(GRID)
    for values in itertools.product(*GRID.values()):
        config = replace(QuoterConfig(), **dict(zip(names, values)))
        scores = {name: round(mean_f1(quoter, table, config), 4) for name, table in tables.items()}
        results.append(
            {
                **dict(zip(names, values)),
                **scores,
                "objective": round(sum(scores.values()) / len(scores), 4),
            }
        )
    results.sort(key=lambda r: -r["objective"])
    default = QuoterConfig()
    report = {
        "questions": {name: len(table) for name, table in tables.items()},
        "passages": args.passages,
        "best": results[0],
        "default": {
            name: round(mean_f1(quoter, table, default), 4) for name, table in tables.items()
        },
        "default_config": asdict(default),
        "top10": results[:10],
        "grid": {k: list(v) for k, v in GRID.items()},
    }
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
