"""Selectors: the learned ranker over features, the extractive quoter's hand-weighted
score (the baseline row), and their blend (the default).

The learned ranker is two small models, stored as plain numbers in ``ranker.json`` beside
this file (written by ``python -m assistant.training.selection.train``, with the config and data
that produced them):

- the unit model: a logistic regression over ``features.FEATURES`` (standardized), giving
  each unit the probability that it holds the answer;
- the no-answer model: a logistic regression over the question's best unit probabilities
  and its retrieval signals, giving the probability that no unit answers.

Plain numbers rather than a pickled estimator: the file is read by numpy alone, cannot run
code when loaded, and survives a scikit-learn upgrade.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.selection.base import Candidate, RankedUnit, Selection, Selector, UnitVectors
from assistant.selection.features import FEATURES, candidates, feature_matrix, question_forms
from corpus.errors import SettingsError
from corpus.records import Hit

MODEL_FILE = Path(__file__).with_name("ranker.json")

# The no-answer model's columns, from one question's unit probabilities and features.
QUESTION_FEATURES: tuple[str, ...] = (
    "best_probability",
    "second_probability",
    "best_logit",
    "best_cosine",
    "best_heading_cosine",
    "best_lexical",
    "best_heading_lexical",
    "best_passage_score",
    "units",
)


@dataclass(frozen=True)
class Linear:
    """A standardized logistic regression: sigmoid(((x - mean) / scale) @ coef + intercept)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return ((rows - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self) -> dict:
        return {
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "coef": self.coef.round(6).tolist(),
            "intercept": round(float(self.intercept), 6),
        }

    @classmethod
    def from_json(cls, record: dict, width: int, where: str) -> Linear:
        arrays = [np.asarray(record[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (width,) for a in arrays):
            raise SettingsError(f"{where}: se esperaban {width} columnas")
        if not (arrays[1] > 0).all():
            raise SettingsError(f"{where}: 'scale' debe ser positiva")
        mean, scale, coef = arrays
        return cls(mean, scale, coef, float(record["intercept"]))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def question_features(matrix: np.ndarray, probabilities: np.ndarray, logits: np.ndarray):
    """(len(QUESTION_FEATURES),) for one question with at least one unit."""
    col = {name: i for i, name in enumerate(FEATURES)}
    ranked = np.sort(probabilities)[::-1]
    return np.array(
        [
            ranked[0],
            ranked[1] if len(ranked) > 1 else 0.0,
            logits.max(),
            matrix[:, col["cosine"]].max(),
            matrix[:, col["heading_cosine"]].max(),
            matrix[:, col["lexical"]].max(),
            matrix[:, col["heading_lexical"]].max(),
            matrix[:, col["passage_score"]].max(),
            np.log(len(probabilities)),
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class RankerModel:
    unit: Linear
    no_answer: Linear
    config: dict  # how it was trained (ranker.json's "config")

    @classmethod
    def load(cls, path: str | Path = MODEL_FILE) -> RankerModel:
        return _load(str(path))

    def to_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "question_features": list(QUESTION_FEATURES),
            "unit": self.unit.to_json(),
            "no_answer": self.no_answer.to_json(),
            "config": self.config,
        }


@lru_cache(maxsize=4)
def _load(path: str) -> RankerModel:
    where = f"modelo del selector {path}"
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        if record["features"] != list(FEATURES):
            raise SettingsError(
                f"{where}: sus columnas no son las de assistant.selection.features; "
                "reentrénalo con python -m assistant.training.selection.train"
            )
        return RankerModel(
            Linear.from_json(record["unit"], len(FEATURES), where),
            Linear.from_json(record["no_answer"], len(QUESTION_FEATURES), where),
            record.get("config", {}),
        )
    except FileNotFoundError:
        raise SettingsError(f"No existe el {where}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise SettingsError(f"{where} no es válido: {error}") from None


def _ranked(units: list[Candidate], scores: np.ndarray) -> list[RankedUnit]:
    shown = np.round(np.asarray(scores, dtype=np.float64), 4)  # the scores a unit carries
    order = np.argsort(-shown, kind="stable")  # ties (as shown) keep passage order
    return [
        RankedUnit(units[i].n, units[i].index, units[i].text, units[i].heading, float(shown[i]))
        for i in order
    ]


class LearnedRanker:
    """The default selector: ``ranker.json``'s two models over ``features.FEATURES``."""

    name = "ranker"

    def __init__(self, unit_vectors: UnitVectors, model: RankerModel | None = None) -> None:
        self.unit_vectors = unit_vectors
        self.model = model or RankerModel.load()

    def select(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Selection:
        units = candidates(hits)
        if not units:
            return Selection([], 1.0)
        matrix = feature_matrix(question, hits, units, query_vector, self.unit_vectors)
        logits = self.model.unit.logits(matrix.astype(np.float64))
        probabilities = sigmoid(logits)
        row = question_features(matrix, probabilities, logits)
        no_answer = float(sigmoid(self.model.no_answer.logits(row[None, :]))[0])
        return Selection(_ranked(units, probabilities), round(no_answer, 4))


class QuoterSelector:
    """The extractive quoter's hand-weighted score as a selector (the baseline row):
    0.5 e5 cosine (rescaled) + 0.5 stem overlap + 0.1 / passage rank, no training.
    Its no-answer score is 1 - the best unit's score (which lies in [0, 1.1])."""

    name = "quoter"

    def __init__(self, unit_vectors: UnitVectors) -> None:
        from assistant.quoter import Quoter

        self.quoter = Quoter(unit_vectors)

    def select(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Selection:
        features = self.quoter.features(question, hits, query_vector)
        if not features.units:
            return Selection([], 1.0)
        scores = self.quoter.score(features)
        by_key = {(u.n, u.index): u for u in candidates(hits)}
        units = [by_key[(n, i)] for n, i, _ in features.units]
        best = float(scores.max())
        return Selection(_ranked(units, scores), round(float(np.clip(1.0 - best, 0.0, 1.0)), 4))


class Blend:
    """Each unit scored ``weight`` x the primary selector's score + the rest x the
    quoter's (capped at 1); the no-answer score is the primary's (its threshold was tuned
    on it)."""

    def __init__(self, name: str, primary, quoter: QuoterSelector, weight: float) -> None:
        if not 0.0 <= weight <= 1.0:
            raise SettingsError(f"weight debe estar entre 0 y 1, no {weight}")
        self.name, self.primary, self.quoter, self.weight = name, primary, quoter, weight

    def select(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Selection:
        learned = self.primary.select(question, hits, query_vector)
        if not learned.units:
            return learned
        hand = {
            (u.n, u.index): min(u.score, 1.0)
            for u in self.quoter.select(question, hits, query_vector).units
        }
        units = candidates(hits)
        primary = {(u.n, u.index): u.score for u in learned.units}
        scores = np.array(
            [
                self.weight * primary[(u.n, u.index)] + (1 - self.weight) * hand[(u.n, u.index)]
                for u in units
            ]
        )
        return Selection(_ranked(units, scores), learned.no_answer)


class BlendedSelector(Blend):
    """The default: 0.7 x the learned ranker's probability + 0.3 x the quoter's score.

    On the dev sets each alone wins somewhere: P@1 on the notes' training questions
    ranker 0.514 / quoter 0.417, on the water-cycle notes 0.813 / 0.875, on SQuAD-es dev
    0.709 / 0.715; the blend at 0.7 scored 0.514 / 0.875 / 0.709, the best or within one
    question of it on each (0.5 the same, 0.3 worse on the notes)."""

    name = "blend"
    RANKER_WEIGHT = 0.7

    def __init__(self, unit_vectors: UnitVectors, model: RankerModel | None = None) -> None:
        super().__init__(
            self.name,
            LearnedRanker(unit_vectors, model),
            QuoterSelector(unit_vectors),
            self.RANKER_WEIGHT,
        )


def _cross_encoder(unit_vectors: UnitVectors):
    from assistant.selection.cross import CrossEncoderSelector  # torch: loaded on demand

    return CrossEncoderSelector(unit_vectors)


def _pointer(unit_vectors: UnitVectors):
    from assistant.selection.pointer import PointerSelector  # torch: loaded on demand

    return PointerSelector(unit_vectors)


def _cross_blend(unit_vectors: UnitVectors):
    return Blend("cross-blend", _cross_encoder(unit_vectors), QuoterSelector(unit_vectors), 0.7)


# name -> factory(unit_vectors); tests add fakes here.
SELECTORS: dict[str, Callable[[UnitVectors], Selector]] = {
    BlendedSelector.name: BlendedSelector,
    LearnedRanker.name: LearnedRanker,
    QuoterSelector.name: QuoterSelector,
    "cross": _cross_encoder,
    "cross-blend": _cross_blend,
    "pointer": _pointer,
}


def get_selector(name: str, unit_vectors: UnitVectors):
    if name not in SELECTORS:
        raise SettingsError(f"selector desconocido {name!r}; elige uno de {sorted(SELECTORS)}")
    return SELECTORS[name](unit_vectors)


__all__ = [
    "Blend",
    "BlendedSelector",
    "MODEL_FILE",
    "QUESTION_FEATURES",
    "SELECTORS",
    "LearnedRanker",
    "Linear",
    "RankerModel",
    "QuoterSelector",
    "get_selector",
    "question_forms",
]
