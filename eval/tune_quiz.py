"""Where the quiz's proposed ratings should cut, measured with the real support checker.

    python -m eval.tune_quiz --out docs/results/quiz_grading.json

No student has graded answers here yet, so the answers are built from the cards
themselves, one of three kinds per card (question/answer, definition and list cards;
a cloze is graded by exact match first):

- ``complete``: the card's whole back (what a student who knows it writes, verbatim);
- ``partial``: only the back's first claim, when the back has two or more;
- ``wrong``: the back of another card of the same kind (``quiz.multiple_choice``'s
  distractor, so as plausible as the quiz's own wrong options).

Cards are split in two halves by id (a hash, so the split does not follow the notes'
order): the thresholds are chosen on the first half and their accuracy is reported on the
second. ``again_below`` is the cut that best tells wrong answers from the others, and
``good_from`` the cut that best tells partial answers from complete ones (balanced
accuracy, so the kinds' counts do not weigh). Verbatim answers score near 1, so this cannot
place ``easy_from``; it stays as set. Prints and writes the result as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from assistant.study.quiz import GradeConfig, _claims, grade_answer, multiple_choice
from corpus.errors import AssistantError
from corpus.files import atomic_write_text

KINDS = ("qa", "definition", "list")
CUTS = [round(0.05 * i, 2) for i in range(1, 20)]


def answers(cards) -> list[dict]:
    """One row per (card, kind of answer) with the text a student would have written."""
    rows = []
    for card in cards:
        if card.kind not in KINDS:
            continue
        rows.append({"card": card, "kind": "complete", "answer": card.back})
        claims = _claims(card.back)
        if len(claims) >= 2:
            rows.append({"card": card, "kind": "partial", "answer": claims[0]})
        try:
            wrong = multiple_choice(card, cards, distractors=1)
        except AssistantError:
            continue  # no other card of its kind to borrow a wrong answer from
        text = next(o for i, o in enumerate(wrong.options) if i != wrong.answer)
        rows.append({"card": card, "kind": "wrong", "answer": text})
    return rows


def balanced_accuracy(low: list[float], high: list[float], cut: float) -> float:
    """How well ``score < cut`` picks ``low`` out from ``high``: the mean of both recalls."""
    if not low or not high:
        return 0.0
    return (sum(s < cut for s in low) / len(low) + sum(s >= cut for s in high) / len(high)) / 2


def best_cut(low: list[float], high: list[float]) -> tuple[float, float]:
    scored = [(balanced_accuracy(low, high, cut), cut) for cut in CUTS]
    accuracy, cut = max(scored, key=lambda pair: (pair[0], -pair[1]))
    return cut, round(accuracy, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=Path("corpus/notes"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from assistant.study.cards import build_cards
    from assistant.support import SupportChecker
    from corpus.loader import load_notes

    try:
        cards = build_cards(load_notes(args.notes).notes)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    checker = SupportChecker()
    rows = answers(cards)
    for row in rows:
        row["score"] = grade_answer(row["card"], row["answer"], checker).score
        row["half"] = "tune" if int(row["card"].id[:8], 16) % 2 == 0 else "test"

    def scores(half: str, kind: str) -> list[float]:
        return [r["score"] for r in rows if r["half"] == half and r["kind"] == kind]

    again_below, again_acc = best_cut(
        scores("tune", "wrong"), scores("tune", "partial") + scores("tune", "complete")
    )
    good_from, good_acc = best_cut(scores("tune", "partial"), scores("tune", "complete"))
    shipped = GradeConfig()
    result = {
        "how": " ".join(__doc__.split("\n\n")[1].split()),
        "n": {
            half: {kind: len(scores(half, kind)) for kind in ("complete", "partial", "wrong")}
            for half in ("tune", "test")
        },
        "median_score": {
            half: {
                kind: round(statistics.median(scores(half, kind)), 3)
                for kind in ("complete", "partial", "wrong")
                if scores(half, kind)
            }
            for half in ("tune", "test")
        },
        "chosen": {"again_below": again_below, "good_from": good_from},
        "tune_balanced_accuracy": {"again": again_acc, "good": good_acc},
        "test_balanced_accuracy": {
            "again": round(
                balanced_accuracy(
                    scores("test", "wrong"),
                    scores("test", "partial") + scores("test", "complete"),
                    again_below,
                ),
                3,
            ),
            "good": round(
                balanced_accuracy(scores("test", "partial"), scores("test", "complete"), good_from),
                3,
            ),
        },
        "shipped": {"again_below": shipped.again_below, "good_from": shipped.good_from},
        "test_balanced_accuracy_shipped": {
            "again": round(
                balanced_accuracy(
                    scores("test", "wrong"),
                    scores("test", "partial") + scores("test", "complete"),
                    shipped.again_below,
                ),
                3,
            ),
            "good": round(
                balanced_accuracy(
                    scores("test", "partial"), scores("test", "complete"), shipped.good_from
                ),
                3,
            ),
        },
    }
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
