"""The quiz's proposed ratings on answers to held-out cards, beside the old single cut.

    python -m eval.tune.quiz --out docs/results/quiz_grading.json [--checker hand]
        [--paraphrases eval/data/quiz_paraphrases.jsonl]
        [--partials eval/data/quiz_partial_heldout.jsonl]

No student has rated answers here yet. The grader (``assistant.study.grading``) is fitted by
``python -m assistant.study.grade_fit`` on answers to 49 cards of the default notes;
this reports on the other 40, those of ``--paraphrases`` (held out):

- ``built``: the answers built from each of those cards (``study.grade_fit.built_answers``:
  the whole back verbatim, which should be Easy; its content words alone, Good; its first
  claim alone, Hard; another card's back, Again);
- ``paraphrases``: a correct, complete answer per card in a student's own words (Good or
  Easy);
- ``partials``: a correct but incomplete one in a student's own words (Hard).

Each kind's ratings are given with the shipped grader and cuts (``grader``) and, as the
baseline measured in the same run, with the grader this replaced (``single_cut``: the
harmonic mean of support and coverage cut at 0.35 / 0.85 / 0.95). Prints and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from assistant.study import grading
from assistant.study.grade_fit import built_answers, rating_shares, written_answers
from assistant.study.quiz import GradeConfig, grade_answer
from corpus.errors import AssistantError
from corpus.files import atomic_write_text

# The single cut on the harmonic mean of support and coverage that the grader replaced.
SINGLE_CUT = (0.35, 0.85, 0.95)


def single_cut(overlap: float) -> str:
    again, good, easy = SINGLE_CUT
    if overlap < again:
        return "again"
    if overlap < good:
        return "hard"
    return "easy" if overlap >= easy else "good"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=Path("corpus/notes"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--checker", default="hand", help="support scorer: hand, learned, cross")
    parser.add_argument(
        "--paraphrases", type=Path, default=Path("eval/data/quiz_paraphrases.jsonl")
    )
    parser.add_argument(
        "--partials", type=Path, default=Path("eval/data/quiz_partial_heldout.jsonl")
    )
    args = parser.parse_args(argv)
    from assistant.support import SCORERS, make_checker

    if args.checker not in SCORERS:
        parser.error(f"--checker debe ser uno de {list(SCORERS)}")
    for path in (args.paraphrases, args.partials):
        if not path.is_file():
            parser.error(f"no existe {path}")
    if args.out and args.out.resolve() in {args.paraphrases.resolve(), args.partials.resolve()}:
        parser.error("--out no puede ser uno de los ficheros de respuestas")
    from assistant.study.cards import build_cards
    from corpus.loader import load_notes

    try:
        cards = build_cards(load_notes(args.notes).notes)
        paraphrases = written_answers(args.paraphrases, cards, field="paraphrase")
        partials = written_answers(args.partials, cards)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    held = {row["card"].id for row in paraphrases}
    sets = {
        "built": [row for row in built_answers(cards) if row["card"].id in held],
        "paraphrases": paraphrases,
        "partials": partials,
    }
    checker = make_checker(args.checker)
    config = GradeConfig()
    result: dict = {"how": " ".join(__doc__.split("\n\n")[1].split()), "checker": args.checker}
    for name, rows in sets.items():
        for row in rows:
            grade = grade_answer(row["card"], row["answer"], checker, config)
            overlap = grading.overlap(grade.support, grade.coverage)
            row.update(rating=grade.rating, score=grade.score, old=single_cut(overlap))
            row["overlap"] = overlap
        result[name] = {}
        for kind in sorted({row["kind"] for row in rows}):
            got = [row for row in rows if row["kind"] == kind]
            result[name][kind] = {
                "n": len(got),
                "grader": rating_shares([row["rating"] for row in got]),
                "single_cut": rating_shares([row["old"] for row in got]),
                "median_score": round(statistics.median(row["score"] for row in got), 3),
                "median_overlap": round(statistics.median(row["overlap"] for row in got), 3),
            }
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
