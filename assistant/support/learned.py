"""A learned support scorer: P(supported | sentence, passage) from the checker's own parts.

A standardized logistic regression (``selection.ranker.Linear``), each weight held to the
sign its column should have (``SIGNS``), over the components
``SupportChecker.parts`` measures for one (sentence, passage) pair: e5 cosines, word
overlap with the passage, the aligned unit and the two best units, the least-covered
clause, the missing words, and the hand-written checks as 0/1 columns. It is trained by
``python -m assistant.training.support.train`` on synthetic pairs (``assistant/training/support/pairs.py``)
and lives in ``learned.json`` beside this file, with its threshold and training report.

``LearnedChecker`` is a ``SupportChecker`` whose score is that probability: it embeds,
caches and treats special sentences exactly as the hand-weighted checker does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.selection.ranker import Linear, sigmoid
from assistant.support.scorer import SupportChecker, SupportConfig, SupportParts
from corpus.errors import SettingsError

MODEL_FILE = Path(__file__).with_name("learned.json")

# Each column with the sign its weight is held to in training (``support.train``): +1 a
# measure of support (the more, the likelier supported), -1 a check or a gap (the more,
# the likelier unsupported), 0 free. Unconstrained, a model fitted on synthetic pairs
# learned their quirks (a flipped negation only mattered with a near-verbatim cosine) and
# lost on the hand-written sentences (docs/RESULTS.md, issue 25).
SIGNS: dict[str, int] = {
    "cosine": 1,
    "second_cosine": 0,
    "lexical": 1,
    "unit_lexical": 1,
    "pair_lexical": 1,
    "clause_lexical": 1,
    "missing_words": -1,  # log(1 + count)
    "missing_numbers": -1,
    "negation_flip": -1,
    "swapped_term": -1,
    "foreign_names": -1,
    "cross_lingual": 0,
    "hand_score": 1,  # the hand-weighted mix, as one more column
}
FEATURES: tuple[str, ...] = tuple(SIGNS)


def feature_row(parts: SupportParts, hand_score: float) -> np.ndarray:
    return np.array(
        [
            parts.cosine,
            parts.second_cosine,
            parts.lexical,
            parts.unit_lexical,
            parts.pair_lexical,
            parts.clause_lexical,
            math.log1p(parts.missing_words),
            float(bool(parts.missing_numbers)),
            float(parts.negation_flip),
            float(parts.swapped_term),
            float(bool(parts.foreign_names)),
            float(parts.cross_lingual),
            hand_score,
        ]
    )


@dataclass(frozen=True)
class LearnedModel:
    linear: Linear
    threshold: float  # probability at or above which a sentence is supported
    report: dict

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> LearnedModel:
        where = f"modelo de respaldo {path}"
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
            if record["features"] != list(FEATURES):
                raise SettingsError(f"{where}: sus columnas no son las de este código")
            linear = Linear.from_json(record["linear"], len(FEATURES), where)
            threshold = float(record["threshold"])
            if not 0.0 < threshold < 1.0:
                raise SettingsError(f"{where}: el umbral debe estar en (0, 1)")
            return cls(linear, threshold, record.get("report", {}))
        except FileNotFoundError:
            raise SettingsError(
                f"No existe el {where}: entrénalo con python -m assistant.training.support.train"
            ) from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise SettingsError(f"{where} no es válido: {error}") from None

    def to_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "linear": self.linear.to_json(),
            "threshold": round(self.threshold, 6),
            "report": self.report,
        }


class LearnedChecker(SupportChecker):
    """The support checker with the learned probability as its score."""

    name = "learned"

    def __init__(
        self,
        embedder=None,
        config: SupportConfig | None = None,
        cache_dir: Path | None = None,
        model: LearnedModel | None = None,
    ) -> None:
        super().__init__(embedder, config, cache_dir)
        self.model = model or LearnedModel.load()

    def combine(self, parts: SupportParts) -> float:
        row = feature_row(parts, super().combine(parts))
        return float(sigmoid(self.model.linear.logits(row[None, :]))[0])

    def supported(self, score: float) -> bool:
        return float(score) >= self.model.threshold

    @property
    def claim_threshold(self) -> float | None:
        return None  # claims on its scale not measured: whole sentences only
