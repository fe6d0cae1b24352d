"""Where the quiz's proposed ratings should cut, measured with the real support checker.

    python -m eval.tune.quiz --out docs/results/quiz_grading.json
        [--checker hand|learned|cross] [--paraphrases eval/data/quiz_paraphrases.jsonl]

No student has graded answers here yet, so the answers are built from the cards
themselves, four kinds per card (question/answer, definition and list cards; a cloze is
graded by exact match first), from best to worst:

- ``complete``: the card's whole back, verbatim (should be Easy);
- ``keywords``: the back's content words alone, in order, lowercase, no stopwords or
  punctuation: all of it, jotted as a student does (should be Good, not Easy);
- ``partial``: only the back's first claim, when the back has two or more (Hard);
- ``wrong``: the back of another card of the same kind (``quiz.multiple_choice``'s
  distractor, so as plausible as the quiz's own wrong options) (Again).

Cards are split in two halves by id (a hash, so the split does not follow the notes'
order). Each cut is chosen on the first half as the one that best tells the kinds below
it from those above it (balanced accuracy, so the kinds' counts do not weigh):
``again_below`` wrong | the rest, ``good_from`` partial | keywords+complete,
``easy_from`` keywords | complete. A cut replaces the shipped one only when it beats it on
the tuning half by more than 0.02; both are reported on the second half. Prints and
writes the result as JSON.

``--paraphrases``: correct answers written by hand in a student's own words for 40 cards
(``eval/data/quiz_paraphrases.jsonl``); reports the ratings proposed for them with the
shipped cuts and with the cuts chosen in this run. A correct paraphrase should be proposed
Bien or Fácil.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from assistant.study.quiz import GradeConfig, answer_claims, grade_answer, multiple_choice
from corpus.errors import AssistantError
from corpus.files import atomic_write_text
from corpus.text import content_words

KINDS = ("qa", "definition", "list")
ANSWER_KINDS = ("wrong", "partial", "keywords", "complete")  # worst to best
RATINGS = ("again", "hard", "good", "easy")
CUTS = [round(0.05 * i, 2) for i in range(1, 20)]
# cut -> (the kinds that should score below it, those that should reach it)
SPLITS = {
    "again_below": (("wrong",), ("partial", "keywords", "complete")),
    "good_from": (("partial",), ("keywords", "complete")),
    "easy_from": (("keywords",), ("complete",)),
}
MARGIN = 0.02  # a measured cut must beat the shipped one on the tuning half by this much


def keywords(text: str) -> str:
    """The content words of ``text`` in order: what a student jots down."""
    return " ".join(content_words(text))


def answers(cards) -> list[dict]:
    """One row per (card, kind of answer) with the text a student would have written."""
    rows = []
    for card in cards:
        if card.kind not in KINDS:
            continue
        rows.append({"card": card, "kind": "complete", "answer": card.back})
        rows.append({"card": card, "kind": "keywords", "answer": keywords(card.back)})
        claims = answer_claims(card.back)
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


def load_paraphrases(path: Path, cards) -> list[dict]:
    by_id = {card.id for card in cards}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    missing = [r["card"] for r in rows if r["card"] not in by_id]
    if missing:
        raise AssistantError(f"{path}: tarjetas que estas notas no dan: {missing[:3]}")
    return rows


def paraphrase_report(rows: list[dict], cards, checker, chosen: GradeConfig) -> dict:
    """The ratings proposed for hand-written correct paraphrases, with the shipped cuts
    and the cuts chosen in this run."""
    by_id = {card.id: card for card in cards}
    report = {"n": len(rows)}
    for name, config in (("shipped_cuts", GradeConfig()), ("chosen_cuts", chosen)):
        grades = [grade_answer(by_id[r["card"]], r["paraphrase"], checker, config) for r in rows]
        proposed = {rating: sum(g.rating == rating for g in grades) for rating in RATINGS}
        report[name] = {
            "proposed": proposed,
            "good_or_easy": round((proposed["good"] + proposed["easy"]) / len(rows), 3),
            "median_score": round(statistics.median(g.score for g in grades), 3),
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=Path("corpus/notes"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--checker", default="hand", help="support scorer: hand, learned, cross")
    parser.add_argument("--paraphrases", type=Path)
    args = parser.parse_args(argv)
    from assistant.support import SCORERS, make_checker

    if args.checker not in SCORERS:
        parser.error(f"--checker debe ser uno de {list(SCORERS)}")
    if args.paraphrases and not args.paraphrases.is_file():
        parser.error(f"no existe {args.paraphrases}")
    from assistant.study.cards import build_cards
    from corpus.loader import load_notes

    try:
        cards = build_cards(load_notes(args.notes).notes)
        paraphrases = load_paraphrases(args.paraphrases, cards) if args.paraphrases else []
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    checker = make_checker(args.checker)
    rows = answers(cards)
    for row in rows:
        row["score"] = grade_answer(row["card"], row["answer"], checker).score
        row["half"] = "tune" if int(row["card"].id[:8], 16) % 2 == 0 else "test"

    def scores(half: str, kinds: tuple[str, ...]) -> list[float]:
        return [r["score"] for r in rows if r["half"] == half and r["kind"] in kinds]

    def accuracy(half: str, name: str, cut: float) -> float:
        low, high = SPLITS[name]
        return round(balanced_accuracy(scores(half, low), scores(half, high), cut), 3)

    shipped = GradeConfig()
    cuts = {}
    for name, (low, high) in SPLITS.items():
        best, tune_best = best_cut(scores("tune", low), scores("tune", high))
        was = getattr(shipped, name)
        tune_shipped = accuracy("tune", name, was)
        cuts[name] = {
            "shipped": was,
            "best_on_tune": best,
            "tune_balanced_accuracy": {"best": tune_best, "shipped": tune_shipped},
            "test_balanced_accuracy": {
                "best": accuracy("test", name, best),
                "shipped": accuracy("test", name, was),
            },
            "chosen": best if tune_best > tune_shipped + MARGIN else was,
        }
    result = {
        "how": " ".join(__doc__.split("\n\n")[1].split()),
        "n": {
            half: {kind: len(scores(half, (kind,))) for kind in ANSWER_KINDS}
            for half in ("tune", "test")
        },
        "median_score": {
            half: {
                kind: round(statistics.median(scores(half, (kind,))), 3)
                for kind in ANSWER_KINDS
                if scores(half, (kind,))
            }
            for half in ("tune", "test")
        },
        "cuts": cuts,
        "chosen": {name: cut["chosen"] for name, cut in cuts.items()},
        "checker": args.checker,
    }
    if paraphrases:
        chosen = GradeConfig(**result["chosen"])
        result["paraphrases"] = paraphrase_report(paraphrases, cards, checker, chosen)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
