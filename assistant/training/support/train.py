"""Train the learned support scorer (``support/learned.json``) on synthetic pairs only.

    python -m assistant.training.support.train [--out assistant/support/learned.json]

1. The pairs: ``assistant.training.support.pairs`` (SQuAD-es train articles' first half and the
   notes outside the held-out sections), written once to the cache.
2. Their features: ``SupportChecker.parts`` for every (sentence, passage), e5 vectors from
   the bulk engine (``index.embedders.bulk_embedder``: e5 in torch, within 0.005 cosine of
   the C engine the app uses) cached in a training cache of its own, never the app's.
3. The model: a standardized logistic regression, each weight held to its sign
   (``learned.SIGNS``); its L2 penalty and its threshold (the best balanced accuracy)
   chosen on out-of-fold probabilities, folds by article or note.

The held-out half of the pairs is read only by ``eval.bench.support``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from assistant.selection.ranker import Linear
from assistant.support.learned import FEATURES, MODEL_FILE, SIGNS, LearnedModel, feature_row
from assistant.support.scorer import SupportChecker, SupportParts
from assistant.training.support.pairs import Pair, load_pairs, synthesize

STRENGTHS = (1e-4, 1e-3, 1e-2)  # L2 penalties tried, chosen by out-of-fold AUC
BULK = 1_000_000  # any count: the training always embeds with the bulk engine
FOLDS = 5


class _TrainingChecker(SupportChecker):
    """The hand-weighted checker, its sentences' vectors cached like units: the training
    pairs are embedded once across runs."""

    def _sentence_vectors(self, sentences: list[str]) -> np.ndarray:
        return self.unit_vectors(sentences)


def training_cache() -> Path:
    from corpus.paths import default_cache_dir

    return default_cache_dir() / "support_train"


def cached_pairs(seed: int = 0) -> dict[str, list[Pair]]:
    """Both halves of the synthetic pairs, synthesized once into the training cache."""
    from corpus.files import atomic_write_text

    folder = training_cache() / f"pairs-s{seed}"
    paths = {half: folder / f"{half}.jsonl" for half in ("train", "heldout")}
    if not all(p.is_file() for p in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        for half, pairs in synthesize(seed).items():
            text = "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in pairs)
            atomic_write_text(paths[half], text)
    return {half: load_pairs(path) for half, path in paths.items()}


def pair_parts(checker: SupportChecker, pairs: list[Pair]) -> list[SupportParts | None]:
    """``checker.parts`` of every (sentence, passage), pairs of one passage in one call."""
    from tqdm import tqdm

    from assistant.support.claims import passage_units

    by_passage: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        by_passage.setdefault(pair.passage, []).append(i)
    # Every unit and sentence embedded in one call first: one write of the cache.
    texts = [u for p in by_passage for u in passage_units(p)] + [p.sentence for p in pairs]
    checker.unit_vectors(list(dict.fromkeys(texts)))
    found: list[SupportParts | None] = [None] * len(pairs)
    for passage, members in tqdm(by_passage.items(), desc="Rasgos", unit="pasaje"):
        table = checker.parts([pairs[i].sentence for i in members], [passage])
        for i, row in zip(members, table):
            found[i] = row[0]
    return found


def pair_features(checker: SupportChecker, parts: list[SupportParts | None]) -> np.ndarray:
    """(len(parts), len(FEATURES)); a pair without parts (nothing to check) is all zeros."""
    rows = np.zeros((len(parts), len(FEATURES)))
    for i, found in enumerate(parts):
        if found is not None:
            rows[i] = feature_row(found, checker.combine(found))
    return rows


def training_checker() -> SupportChecker:
    from index.embedders import bulk_embedder

    return _TrainingChecker(bulk_embedder("e5-small", BULK), cache_dir=training_cache())


def best_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    candidates = np.unique(np.round(probabilities, 3))
    scores = [balanced_accuracy_score(labels, probabilities >= t) for t in candidates if 0 < t < 1]
    return float([t for t in candidates if 0 < t < 1][int(np.argmax(scores))])


def fit_signed(rows: np.ndarray, labels: np.ndarray, strength: float) -> Linear:
    """A standardized logistic regression whose weights keep the signs of ``SIGNS``
    (L-BFGS-B with bounds: scikit-learn's LogisticRegression has no sign constraints),
    with an L2 penalty of ``strength``."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (rows - mean) / scale
    y = labels.astype(np.float64)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        logits = z @ w[:-1] + w[-1]
        value = -np.mean(y * log_expit(logits) + (1 - y) * log_expit(-logits))
        error = (expit(logits) - y) / len(y)
        grad = np.append(z.T @ error + 2 * strength * w[:-1], error.sum())
        return value + strength * float(w[:-1] @ w[:-1]), grad

    bounds = [(0, None) if s > 0 else (None, 0) if s < 0 else (None, None) for s in SIGNS.values()]
    found = minimize(
        loss, np.zeros(len(SIGNS) + 1), jac=True, method="L-BFGS-B", bounds=[*bounds, (None, None)]
    )
    return Linear(mean, scale, found.x[:-1], float(found.x[-1]))


def fit(rows: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> tuple[LearnedModel, dict]:
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import GroupKFold

    from assistant.selection.ranker import sigmoid

    folds = list(GroupKFold(n_splits=FOLDS).split(rows, labels, groups))
    found = {}
    for strength in STRENGTHS:
        out_of_fold = np.zeros(len(labels))
        for train, test in folds:
            linear = fit_signed(rows[train], labels[train], strength)
            out_of_fold[test] = sigmoid(linear.logits(rows[test]))
        found[strength] = (roc_auc_score(labels, out_of_fold), out_of_fold)
    strength = max(found, key=lambda k: found[k][0])
    auc, out_of_fold = found[strength]
    threshold = best_threshold(labels, out_of_fold)
    report = {
        "pairs": int(len(labels)),
        "supported": int(labels.sum()),
        "l2": strength,
        "cv_auc_by_l2": {str(k): round(float(v[0]), 4) for k, v in found.items()},
        "cv_auc": round(float(auc), 4),
        "cv_balanced_accuracy": round(
            float(balanced_accuracy_score(labels, out_of_fold >= threshold)), 4
        ),
        "folds": FOLDS,
    }
    model = LearnedModel(fit_signed(rows, labels, strength), threshold, report)
    return model, report


def main(argv: list[str] | None = None) -> int:
    from corpus.files import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pairs = cached_pairs(args.seed)["train"]
    checker = training_checker()
    rows = pair_features(checker, pair_parts(checker, pairs))
    labels = np.array([int(p.supported) for p in pairs])
    groups = np.array([p.group for p in pairs])
    model, report = fit(rows, labels, groups)
    kinds: dict[str, int] = {}
    for p in pairs:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    report |= {"kinds": kinds, "seed": args.seed}
    model = LearnedModel(model.linear, model.threshold, report)
    atomic_write_text(args.out, json.dumps(model.to_json(), indent=1, ensure_ascii=False) + "\n")
    json.dump(report | {"threshold": model.threshold}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
