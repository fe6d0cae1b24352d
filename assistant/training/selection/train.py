"""Train the learned ranker (``ranker.json``) on the training questions only.

    python -m assistant.training.selection.train [--squad ../shared/data/squad-es-v2.0-dev-small.json]
        [--out assistant/selection/ranker.json]

Training questions, each retrieved exactly as the assistant retrieves (top ``passages``):

- the SQuAD-es **train** articles (``eval/data/squad_es/split.json``; never the dev or test
  articles), written as a notes folder in the cache and indexed: the unit that holds the
  answer's sentence and span is the positive; an ``is_impossible`` question has none;
- the notes' dev questions whose section is not held out (``notes_dev.jsonl`` minus every
  id of ``notes_heldout.jsonl`` and ``notes_en.jsonl``): the unit that holds an evidence
  string is the positive.

The unit model's regularization is chosen by 5-fold cross-validation grouped by article or
note section (mean P@1 of the folds); the no-answer model is fitted on the unit model's
out-of-fold probabilities, so it learns how confident the ranker is on questions it has
not seen. Runs in a few minutes (embedding the units is most of it; they are cached).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from assistant.selection.features import candidates, feature_matrix
from assistant.selection.ranker import (
    MODEL_FILE,
    Linear,
    RankerModel,
    question_features,
    sigmoid,
)
from corpus.questions import Question, holds_evidence, load_questions
from corpus.records import Hit

SPLIT = Path("eval/data/squad_es/split.json")
NOTES_DEV = Path("eval/data/notes_dev.jsonl")
HELD_OUT = (Path("eval/data/notes_heldout.jsonl"), Path("eval/data/notes_en.jsonl"))


@dataclass(frozen=True)
class TrainConfig:
    passages: int = 3  # the assistant's default: train on what it will see
    squad_answerable: int = 2000  # SQuAD-es train questions sampled (seeded)
    squad_impossible: int = 1000
    # Each notes question weighs this many SQuAD-es ones: they are 72 of ~3,000, yet they
    # are what the assistant answers (question headings over short answers, lists).
    notes_weight: float = 10.0
    c_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    folds: int = 5
    seed: int = 0


@dataclass
class QuestionTable:
    """One question's candidates as the ranker sees them."""

    question: Question
    group: str  # article or note section: the unit of cross-validation
    matrix: np.ndarray  # (units, FEATURES)
    labels: np.ndarray  # (units,) 1 = holds the evidence
    units: list = field(default_factory=list)  # the Candidates, same order
    source: str = "squad"  # "notes" or "squad": weighted and reported apart


def question_table(index, question: Question, passages: int, unit_vectors) -> QuestionTable:
    hits = index.search(question.question, k=passages)
    units = candidates(hits)
    matrix = feature_matrix(
        question.question, hits, units, index.query_vector(question.question), unit_vectors
    )
    labels = np.array(
        [question.answerable and holds_evidence(u.text, question) for u in units], dtype=np.int8
    )
    return QuestionTable(question, question.section or question.id, matrix, labels, units)


def squad_train_questions(squad: Path, cache: Path, config: TrainConfig):
    """(notes folder, sampled questions) of the SQuAD-es train articles."""
    import random

    from assistant.training.lora.squad import load_squad, question_rows, write_notes
    from corpus.questions import _question

    split = json.loads(SPLIT.read_text(encoding="utf-8"))
    articles, _ = load_squad(squad)
    train = [a for a in articles if a.title in set(split["train"])]
    held = set(split["dev"]) | set(split["test"])
    assert not held & {a.title for a in train}, "a dev or test article in training"
    notes = cache / "notes"
    if not notes.is_dir():
        write_notes(train, notes)
    rows = [_question(r) for r in question_rows(train, seed=config.seed)]
    rng = random.Random(config.seed)
    answerable = [q for q in rows if q.answerable]
    impossible = [q for q in rows if not q.answerable]
    rng.shuffle(answerable)
    rng.shuffle(impossible)
    return notes, answerable[: config.squad_answerable] + impossible[: config.squad_impossible]


def notes_train_questions() -> list[Question]:
    held = {q.id.removesuffix("-en") for path in HELD_OUT for q in load_questions(path)}
    return [q for q in load_questions(NOTES_DEV) if q.id not in held]


def tables_for(
    notes: Path, questions: list[Question], passages: int, unit_vectors, source: str
) -> list[QuestionTable]:
    from tqdm import tqdm

    from index.store import open_index

    index = open_index(notes)[0]
    # Every unit and heading embedded in one call first: the cache file is then written
    # once, not once per question.
    every = candidates([Hit(chunk, 0.0) for chunk in index.chunks])
    unit_vectors([u.text for u in every] + sorted({u.heading for u in every if u.heading}))
    tables = [
        question_table(index, q, passages, unit_vectors)
        for q in tqdm(questions, desc=f"Candidatos ({source})", unit="preg")
    ]
    for table in tables:
        table.source = source
    return tables


def _fit_linear(
    rows: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, c: float
) -> Linear:
    from sklearn.linear_model import LogisticRegression

    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit((rows - mean) / scale, labels, sample_weight=weights)
    return Linear(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


def precision_at_1(tables: list[QuestionTable], scores: list[np.ndarray]) -> float:
    hits = [t.labels[int(np.argmax(s))] if len(s) else 0 for t, s in zip(tables, scores)]
    return float(np.mean(hits)) if hits else 0.0


def fit_ranker(tables: list[QuestionTable], config: TrainConfig) -> tuple[RankerModel, dict]:
    from sklearn.model_selection import GroupKFold

    usable = [t for t in tables if len(t.labels)]
    groups = np.array([t.group for t in usable])
    folds = list(GroupKFold(n_splits=config.folds).split(usable, groups=groups))
    positives = [t for t in usable if t.labels.any()]

    def stack(ts):
        weight = {"notes": config.notes_weight, "squad": 1.0}
        return (
            np.vstack([t.matrix for t in ts]).astype(np.float64),
            np.concatenate([t.labels for t in ts]),
            np.concatenate([np.full(len(t.labels), weight[t.source]) for t in ts]),
        )

    cv = {}
    out_of_fold: dict[float, list[np.ndarray]] = {}
    for c in config.c_grid:
        scores = [np.zeros(0)] * len(usable)
        for train_idx, test_idx in folds:
            # Units of questions whose passages hold no positive teach the unit model
            # nothing about which unit answers: train the unit model on the others only.
            train = [usable[i] for i in train_idx if usable[i].labels.any()]
            model = _fit_linear(*stack(train), c)
            for i in test_idx:
                scores[i] = model.logits(usable[i].matrix.astype(np.float64))
        out_of_fold[c] = scores
        cv[c] = {
            source: round(
                precision_at_1([usable[i] for i in answered], [scores[i] for i in answered]),
                4,
            )
            for source in ("notes", "squad")
            if (
                answered := [
                    i for i, t in enumerate(usable) if t.labels.any() and t.source == source
                ]
            )
        }
    # Each source's P@1 weighs the same in the choice.
    best_c = max(config.c_grid, key=lambda c: (float(np.mean(list(cv[c].values()))), -c))
    rows, labels, weights = stack(positives)
    unit = _fit_linear(rows, labels, weights, best_c)

    rows = np.array(
        [question_features(t.matrix, sigmoid(s), s) for t, s in zip(usable, out_of_fold[best_c])]
    )
    no_answer_labels = np.array([int(not t.labels.any()) for t in usable])
    no_answer = _fit_linear(rows, no_answer_labels, None, 1.0)
    report = {
        "cv_p_at_1": {str(c): v for c, v in cv.items()},  # per source
        "c": best_c,
        "questions": len(usable),
        "questions_with_positive": len(positives),
        "units": int(sum(len(t.labels) for t in usable)),
    }
    return RankerModel(unit, no_answer, {}), report


def main(argv: list[str] | None = None) -> int:
    from assistant.support import SupportChecker
    from corpus.files import atomic_write_text, file_sha256
    from corpus.paths import default_cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--squad", type=Path, default=Path("../shared/data/squad-es-v2.0-dev-small.json")
    )
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--cache", type=Path, default=None, help="default: the cache's selector/")
    args = parser.parse_args(argv)
    config = TrainConfig()
    began = time.perf_counter()
    cache = args.cache or default_cache_dir() / "selector" / "squad_train"
    unit_vectors = SupportChecker().unit_vectors
    squad_notes, squad_questions = squad_train_questions(args.squad, cache, config)
    notes_questions = notes_train_questions()
    tables = tables_for(
        Path("corpus/notes"), notes_questions, config.passages, unit_vectors, "notes"
    )
    tables += tables_for(squad_notes, squad_questions, config.passages, unit_vectors, "squad")
    model, report = fit_ranker(tables, config)
    model = RankerModel(
        model.unit,
        model.no_answer,
        {
            "train": asdict(config),
            "fit": report,
            "data": {
                "squad": str(args.squad),
                "squad_sha256": file_sha256(args.squad),
                "squad_split": str(SPLIT),
                "squad_questions": len(squad_questions),
                "notes_questions": len(notes_questions),
                "notes_dev_sha256": file_sha256(NOTES_DEV),
                "held_out_excluded": [str(p) for p in HELD_OUT],
            },
            "seconds": round(time.perf_counter() - began, 1),
        },
    )
    atomic_write_text(args.out, json.dumps(model.to_json(), indent=1) + "\n")
    json.dump(model.config, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
