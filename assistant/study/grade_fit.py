"""Fit the quiz's grader (``assistant.study.grading``) on answers written for the cards.

    python -m assistant.study.grade_fit [--notes corpus/notes]
        [--answers eval/data/quiz_answers_dev.jsonl] [--out assistant/study/grade_model.json]

The training answers, per card of the default notes that no held-out file names:

- built from the card (``built_answers``): the whole back verbatim, its content words
  alone (both whole), its first claim alone (partial), another card's back (wrong);
- written in a student's own words (``--answers``): a paraphrase (whole), a partial answer
  and an on-topic wrong one.

``correct`` is fitted on every answer (wrong against the rest), ``whole`` on the right
ones (whole against partial), each a logistic regression over ``grading.FEATURES``
measured with the default support checker. By card out of fold (5 folds) it chooses the
cut on P(right) that Bien also needs (``choose_good_right``; ``GradeConfig.good_right``
must be set to it) and reports the share of each kind of answer proposed each rating; the
report is saved in the model file. The cards of ``eval/data/quiz_paraphrases.jsonl`` and
``quiz_partial_heldout.jsonl`` are never read here: ``eval.tune.quiz`` reports on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import get_args

import numpy as np

from assistant.selection.ranker import Linear, sigmoid
from assistant.study.cards import Card
from assistant.study.grading import MODEL_FILE, GradeModel, measure_answer
from assistant.study.quiz import GradeConfig, answer_claims, multiple_choice
from assistant.study.schedule import RatingName
from corpus.errors import AssistantError
from corpus.text import content_words

GRADED_KINDS = ("qa", "definition", "list")  # a cloze is graded by exact match first
WHOLE = ("complete", "keywords", "paraphrase")
WRONG = ("wrong",)
DATA = Path(__file__).resolve().parents[2] / "eval" / "data"
HELDOUT_FILES = (DATA / "quiz_paraphrases.jsonl", DATA / "quiz_partial_heldout.jsonl")
RATINGS = get_args(RatingName)  # worst to best
FOLDS = 5
GOOD_RIGHT_CUTS = [round(0.5 + 0.05 * i, 2) for i in range(10)]  # 0.5 ... 0.95
FLAT = 0.005


def keywords(text: str) -> str:
    """The content words of ``text`` in order: what a student jots down."""
    return " ".join(content_words(text))


def built_answers(cards: list[Card]) -> list[dict]:
    """Answers built from each graded card: ``complete`` (the back verbatim), ``keywords``
    (its content words alone, lowercase, in order), ``partial`` (its first claim, when it
    has two or more), ``wrong`` (another card's back of its kind, the quiz's own most
    plausible distractor)."""
    rows = []
    for card in cards:
        if card.kind not in GRADED_KINDS:
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


def written_answers(path: Path, cards: list[Card], field: str = "answer") -> list[dict]:
    """The rows of a file of answers written for cards (``card``, ``back``, ``field``,
    optional ``kind``), each joined to its card. A row whose card is gone, or whose card's
    back is no longer the one it answers, is refused: the answer was written for
    another back."""
    by_id = {card.id: card for card in cards}
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        card = by_id.get(record["card"])
        if card is None:
            raise AssistantError(f"{path}:{number}: estas notas no dan la tarjeta {record['card']}")
        if record["back"] != card.back:
            raise AssistantError(
                f"{path}:{number}: la tarjeta {card.id} ha cambiado desde que se escribió "
                "esta respuesta; reescríbela para su reverso actual"
            )
        rows.append(
            {"card": card, "kind": record.get("kind", "paraphrase"), "answer": record[field]}
        )
    return rows


def heldout_ids(files: Iterable[Path] = HELDOUT_FILES) -> set[str]:
    ids: set[str] = set()
    for path in files:
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            ids |= {json.loads(line)["card"] for line in lines if line.strip()}
    return ids


def measure_rows(rows: list[dict], checker) -> np.ndarray:
    """(len(rows), len(FEATURES)); also sets each row's ``overlap``."""
    table = []
    for row in rows:
        card = row["card"]
        claims = answer_claims(row["answer"]) or [row["answer"]]
        measures = measure_answer(card, claims, answer_claims(card.back) or [card.back], checker)
        row["overlap"] = measures.overlap
        table.append(measures.row())
    return np.vstack(table)


def fit_linear(rows: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> Linear:
    from sklearn.linear_model import LogisticRegression

    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((rows - mean) / scale, labels, sample_weight=weights)
    return Linear(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


def kind_weights(kinds: list[str]) -> np.ndarray:
    """Each kind of answer weighs the same in all: there are as many paraphrases as
    verbatim backs, but more wrong and partial answers (built and written), and a
    student's answer is most often a paraphrase. Unweighted, earlier versions of these
    features called 16-27% of the paraphrases wrong (by card out of fold)."""
    counts = {kind: kinds.count(kind) for kind in set(kinds)}
    return np.array([len(kinds) / (len(counts) * counts[kind]) for kind in kinds])


def fit(rows: np.ndarray, kinds: list[str]) -> GradeModel:
    right = np.array([kind not in WRONG for kind in kinds])
    whole = np.array([kind in WHOLE for kind in kinds])
    weights = kind_weights(kinds)
    return GradeModel(
        fit_linear(rows, right, weights),
        fit_linear(rows[right], whole[right], weights[right]),
        {},
    )


def probabilities(model: GradeModel, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(right), P(right and whole)) per row."""
    right = sigmoid(model.correct.logits(rows))
    return right, right * sigmoid(model.whole.logits(rows))


def proposals(
    model: GradeModel, rows: np.ndarray, overlaps: list[float], config: GradeConfig | None = None
) -> list[str]:
    config = config or GradeConfig()
    right, whole = probabilities(model, rows)
    return [config.rating(r, w, o) for r, w, o in zip(right, whole, overlaps)]


def choose_good_right(right: np.ndarray, whole: np.ndarray, kinds: list[str]) -> dict:
    """The cut on P(right) that Bien also needs: each cut's balanced accuracy of "Bien or
    better" (with ``good_from``) against the answers that deserve it (``WHOLE``); the
    highest cut within ``FLAT`` of the best, the one that calls fewest wrong answers
    Bien where accuracy is flat (as ``eval.tune.no_answer`` chooses)."""
    deserve = np.array([kind in WHOLE for kind in kinds])
    good_from = GradeConfig().good_from
    accuracy = {}
    for cut in GOOD_RIGHT_CUTS:
        good = (right >= cut) & (whole >= good_from)
        accuracy[cut] = round(float((good[deserve].mean() + (~good[~deserve]).mean()) / 2), 3)
    best = max(accuracy.values())
    chosen = max(cut for cut, value in accuracy.items() if value >= best - FLAT)
    return {"balanced_accuracy": accuracy, "chosen": chosen}


def rating_shares(rated: list[str]) -> dict:
    """The share of the answers proposed each rating."""
    return {rating: round(rated.count(rating) / len(rated), 3) for rating in RATINGS}


def shares(kinds: list[str], rated: list[str]) -> dict:
    """Per kind of answer: how many, and the share proposed each rating."""
    report = {}
    for kind in sorted(set(kinds)):
        got = [r for k, r in zip(kinds, rated) if k == kind]
        report[kind] = {"n": len(got), **rating_shares(got)}
    return report


def out_of_fold(
    rows: np.ndarray, kinds: list[str], cards: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(P(right), P(right and whole)) of each answer by a model fitted without its card
    (cards in FOLDS groups)."""
    from sklearn.model_selection import GroupKFold

    right, whole = np.zeros(len(kinds)), np.zeros(len(kinds))
    for train, test in GroupKFold(FOLDS).split(rows, groups=cards):
        model = fit(rows[train], [kinds[i] for i in train])
        right[test], whole[test] = probabilities(model, rows[test])
    return right, whole


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=Path("corpus/notes"))
    parser.add_argument("--answers", type=Path, default=DATA / "quiz_answers_dev.jsonl")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    args = parser.parse_args(argv)
    if not args.answers.is_file():
        parser.error(f"no existe {args.answers}")
    if args.out.exists() and not args.out.is_file():
        parser.error(f"--out no es un fichero: {args.out}")
    if args.out.resolve() == args.answers.resolve():
        parser.error("--out no puede ser el fichero de respuestas")
    from assistant.study.cards import build_cards
    from assistant.support import DEFAULT_SCORER, make_checker
    from corpus.files import atomic_write_text
    from corpus.loader import load_notes
    from corpus.paths import default_cache_dir

    held = heldout_ids()
    try:
        cards = build_cards(load_notes(args.notes).notes)
        written = written_answers(args.answers, cards)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    leaked = sorted({row["card"].id for row in written} & held)
    if leaked:
        print(f"error: {args.answers} responde tarjetas reservadas: {leaked[:3]}", file=sys.stderr)
        return 1
    train = [row for row in built_answers(cards) if row["card"].id not in held] + written
    checker = make_checker(DEFAULT_SCORER, cache_dir=default_cache_dir() / "quiz_grade_train")
    table = measure_rows(train, checker)
    kinds = [row["kind"] for row in train]
    overlaps = [row["overlap"] for row in train]
    right, whole = out_of_fold(table, kinds, [row["card"].id for row in train])
    cut = choose_good_right(right, whole, kinds)
    config = GradeConfig(good_right=cut["chosen"])
    rated = [config.rating(r, w, o) for r, w, o in zip(right, whole, overlaps)]
    model = fit(table, kinds)
    report = {
        "how": "python -m assistant.study.grade_fit",
        "checker": DEFAULT_SCORER,
        "cards": len({row["card"].id for row in train}),
        "answers": len(train),
        "good_right": cut,
        "out_of_fold": shares(kinds, rated),
        "in_sample": shares(kinds, proposals(model, table, overlaps, config)),
    }
    model = GradeModel(model.correct, model.whole, report)
    atomic_write_text(args.out, json.dumps(model.to_json(), ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
