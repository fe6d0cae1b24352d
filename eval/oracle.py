"""The ceiling of answering with the notes' own units: what a perfect selector would score.

    python -m eval.oracle --questions eval/data/notes_heldout.jsonl [--notes corpus/notes]
        [--index DIR] [--k 3] [--out FILE.json]

For each answerable question, the top ``k`` passages are retrieved exactly as the
assistant retrieves them and cut into units (``support.passage_units``: sentences, list
items with their label, table cells). The oracle then picks, knowing the reference answers:

- ``one_unit``: the single unit with the best token F1;
- ``two_units``: the best of those and of every pair of units of one passage, joined in the
  passage's order (an answer that needs two sentences: a definition and its contrast);
- ``evidence_reachable``: whether any unit holds the question's evidence
  (``corpus.questions.holds_evidence``), the ceiling of a selector's P@1.

Every reader table reports its token F1 beside ``one_unit`` and the share of it that the
reader reaches (``share_of_ceiling``).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.support import passage_units
from corpus.markdown import plain_text
from corpus.questions import Question, holds_evidence, load_questions
from corpus.records import Hit
from eval.harness import emit
from eval.metrics import best, token_f1


@dataclass(frozen=True)
class OracleRow:
    id: str
    one_unit: float
    two_units: float
    evidence_reachable: bool
    best_unit: str  # the unit behind one_unit


def unit_answer(unit: str) -> str:
    """A unit as the answer text every reader is scored on (markup out, one line)."""
    return " ".join(plain_text(unit).split())


def oracle_row(question: Question, hits: list[Hit]) -> OracleRow:
    one, two, best_unit, reachable = 0.0, 0.0, "", False
    for hit in hits:
        units = [unit_answer(u) for u in passage_units(hit.chunk.text)]
        reachable = reachable or any(holds_evidence(u, question) for u in units)
        scores = [best(token_f1, u, question.answers) for u in units]
        for unit, score in zip(units, scores):
            if score > one:
                one, best_unit = score, unit
        pairs = (
            best(token_f1, f"{a} {b}", question.answers)
            for a, b in itertools.combinations(units, 2)
        )
        two = max(two, *scores, *pairs, 0.0)
    return OracleRow(question.id, round(one, 4), round(two, 4), reachable, best_unit)


def oracle_rows(index, questions: list[Question], k: int = 3) -> list[OracleRow]:
    """One row per answerable question; ``index`` is a NotesIndex (retrieval as answering)."""
    return [oracle_row(q, index.search(q.question, k=k)) for q in questions if q.answerable]


def summarize_oracle(rows: list[OracleRow]) -> dict:
    def mean(values) -> float:
        values = list(values)
        return round(statistics.mean(values), 4) if values else 0.0

    return {
        "n": len(rows),
        "one_unit_f1": mean(r.one_unit for r in rows),
        "two_units_f1": mean(r.two_units for r in rows),
        "evidence_reachable": mean(float(r.evidence_reachable) for r in rows),
    }


def share_of_ceiling(f1: float, ceiling: float) -> float | None:
    """The share of the one-unit ceiling a reader's token F1 reaches."""
    return round(f1 / ceiling, 3) if ceiling > 0 else None


def run_oracle(
    notes: str,
    questions: str,
    k: int = 3,
    index_dir: str | None = None,
    limit: int | None = None,
) -> dict:
    """``limit``: the same first rows a reader run with ``--limit`` answers."""
    from eval.answers import limit_questions
    from index.store import open_index

    index = open_index(notes, index_dir)[0]
    rows = oracle_rows(index, limit_questions(load_questions(questions), limit), k)
    return {
        **summarize_oracle(rows),
        "rows": [asdict(r) for r in rows],
        "config": {
            "notes": str(Path(notes)),
            "questions": str(Path(questions)),
            "k": k,
            "limit": limit,
            "index": asdict(index.config),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", required=True)
    parser.add_argument("--notes", default="corpus/notes")
    parser.add_argument("--index", default=None, help="index folder (default: the notes' own)")
    parser.add_argument("--k", type=int, default=3, help="passages retrieved per question")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rows", action="store_true", help="print every question's row too")
    args = parser.parse_args(argv)
    if not 1 <= args.k <= 20:
        parser.error(f"--k must be in [1, 20], got {args.k}")
    report = run_oracle(args.notes, args.questions, args.k, args.index)
    shown = report if args.rows else {k: v for k, v in report.items() if k != "rows"}
    emit(report, args.out, shown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
