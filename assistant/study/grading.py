"""The quiz's grader: how likely a written answer is right, and how likely it is whole.

A student who answers a card in their own words reorders, merges and rewords the back.
The support checker alone (``Checker.scores``) scores such a correct paraphrase about
0.7, as it does an answer that gives only half of the back, so no single cut on it tells
the two apart (docs/RESULTS.md, issue 25). This model reads several measures of one
answer against its card instead (``AnswerMeasures``):

- the checker's support of the answer's claims by the card's whole text (mean and least);
- the checker's coverage of the back's claims by the answer's claims (mean and least);
- the share of the back's word stems the answer has, and of the answer's stems the card
  has;
- the answer's length against the back's, in content stems;
- the cosine of the answer's and the back's vectors (the checker's embedder, e5 by
  default), and each back claim's best cosine with a claim of the answer (least, mean):
  a paraphrase keeps the meaning where it loses the words.

Two standardized logistic regressions (``selection.ranker.Linear``) turn them into
probabilities: ``correct`` = P(what it says is right), ``whole`` = P(it says all of the
back | it is right). They are fitted by ``python -m assistant.study.grade_fit`` on
answers written for 49 cards of the default notes (``eval/data/quiz_answers_dev.jsonl``:
a paraphrase, a partial answer and a wrong one per card) and on the answers built from
those cards (the whole back, its content words, its first claim, another card's back);
the other 40 cards' answers are held out. The model lives in ``grade_model.json`` beside
this file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.selection.ranker import Linear, sigmoid
from assistant.support.claims import sentence_claims
from assistant.support.scorer import Checker
from corpus.errors import SettingsError
from corpus.text import analyse

if TYPE_CHECKING:
    from assistant.study.cards import Card
    from index.embedders.base import Embedder

MODEL_FILE = Path(__file__).with_name("grade_model.json")

FEATURES: tuple[str, ...] = (
    "support",
    "support_min",
    "coverage",
    "coverage_min",
    "stem_recall",
    "stem_precision",
    "length_ratio",  # log((answer stems + 1) / (back stems + 1))
    "cosine",
    "claim_cosine_min",
    "claim_cosine_mean",
)


class GradingChecker(Checker, Protocol):
    """A support checker with the embedder its vectors come from (``SupportChecker``)."""

    @property
    def embedder(self) -> Embedder: ...


def overlap(support: float, coverage: float) -> float:
    """The harmonic mean of support and coverage: 1.0 for the back verbatim."""
    total = support + coverage
    return 2 * support * coverage / total if total else 0.0


@dataclass(frozen=True)
class AnswerMeasures:
    support: float  # mean support of the answer's claims by the card's whole text
    support_min: float
    coverage: float  # mean support of the back's claims by the answer's claims
    coverage_min: float
    stem_recall: float  # share of the back's stems found in the answer
    stem_precision: float  # share of the answer's stems found in the card's whole text
    length_ratio: float
    cosine: float  # the answer's vector against the back's
    claim_cosine_min: float  # each back claim's best cosine with the answer's claims: least
    claim_cosine_mean: float

    @property
    def overlap(self) -> float:
        return overlap(self.support, self.coverage)

    def row(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FEATURES], dtype=np.float64)


def _clip(value: float) -> float:
    return min(max(float(value), 0.0), 1.0)


def measure_answer(
    card: Card, claims: list[str], expected: list[str], checker: GradingChecker
) -> AnswerMeasures:
    """The measures of an answer (its ``claims``, at least one) against ``card``, whose
    back's claims are ``expected``."""
    reference = card.full_back or card.back
    support = checker.scores(claims, [reference])[:, 0]
    # The answer's sentences and each of their claims as units: a back's short list item
    # is then compared with the clause that restates it, not a whole merged sentence.
    pieces = [p for c in claims for p in (c, *sentence_claims(c))]
    coverage = checker.scores(expected, ["\n".join(f"- {p}" for p in pieces)])[:, 0]
    answer_stems = set(analyse(" ".join(claims)))
    back_stems = set(analyse(" ".join(expected)))
    card_stems = set(analyse(reference)) | back_stems
    texts = [" ".join(claims), " ".join(expected), *expected, *pieces]
    vectors = np.asarray(checker.embedder.embed_passages(texts), dtype=np.float64)
    answer_vector, back_vector = vectors[0], vectors[1]
    per_claim = (vectors[2 : 2 + len(expected)] @ vectors[2 + len(expected) :].T).max(axis=1)
    return AnswerMeasures(
        support=_clip(support.mean()),
        support_min=_clip(support.min()),
        coverage=_clip(coverage.mean()),
        coverage_min=_clip(coverage.min()),
        stem_recall=len(back_stems & answer_stems) / len(back_stems) if back_stems else 1.0,
        stem_precision=(
            len(answer_stems & card_stems) / len(answer_stems) if answer_stems else 0.0
        ),
        length_ratio=math.log((len(answer_stems) + 1) / (len(back_stems) + 1)),
        cosine=float(answer_vector @ back_vector),
        claim_cosine_min=float(per_claim.min()),
        claim_cosine_mean=float(per_claim.mean()),
    )


@dataclass(frozen=True)
class GradeModel:
    correct: Linear  # P(right)
    whole: Linear  # P(all of the back | right)
    report: dict

    def probabilities(self, measures: AnswerMeasures) -> tuple[float, float]:
        """(P(right), P(whole | right)) of one answer."""
        row = measures.row()[None, :]
        return (
            float(sigmoid(self.correct.logits(row))[0]),
            float(sigmoid(self.whole.logits(row))[0]),
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> GradeModel:
        where = f"modelo de calificación {path}"
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(
                f"No existe el {where}: entrénalo con python -m assistant.study.grade_fit"
            ) from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise SettingsError(f"{where} no es válido: {error}") from None
        return cls.load_record(record, where)

    @classmethod
    def load_record(cls, record: dict, where: str = "modelo de calificación") -> GradeModel:
        """The model of a record as ``to_json`` writes it."""
        try:
            if record["features"] != list(FEATURES):
                raise SettingsError(f"{where}: sus columnas no son las de este código")
            width = len(FEATURES)
            return cls(
                Linear.from_json(record["correct"], width, where),
                Linear.from_json(record["whole"], width, where),
                record.get("report", {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SettingsError(f"{where} no es válido: {error}") from None

    def to_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "correct": self.correct.to_json(),
            "whole": self.whole.to_json(),
            "report": self.report,
        }


@cache
def shipped_model() -> GradeModel:
    """The model in ``grade_model.json``, read once."""
    return GradeModel.load()
