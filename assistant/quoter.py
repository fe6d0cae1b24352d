"""The extractive quoter: answer with the retrieved passages' own best sentence, cited.

No generation. Each passage is cut into the units one sentence can state
(``support.passage_units``: sentences, list items with their label, table cells), and each
unit is scored against the question:

    score = w_semantic * cosine(question as e5 query, unit as e5 passage), rescaled
          + w_lexical  * share of the question's content stems the unit holds
          + w_rank     * 1 / rank of the unit's passage in retrieval
          + w_first    * [the unit opens its passage] (a section's first sentence is
                         usually its answer: the notes are question headings + answers)

The best unit is the answer; the second best joins it when it comes from the same passage
and scores within ``second_margin`` of it. Every sentence ends with its passage's [n].
Weights were chosen on the dev sets (``python -m eval.tune.quoter``; notes dev and the
SQuAD-es dev articles, never the held-out files): see ``QuoterConfig``.

It is the baseline every model strategy must beat, and the fallback when a draft is
withdrawn but retrieval is confident (``answer.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assistant.support import passage_units
from corpus.errors import SettingsError
from corpus.markdown import plain_text
from corpus.records import Hit
from corpus.text import analyse


@dataclass(frozen=True)
class QuoterConfig:
    # Chosen by eval/tune/quoter.py on the two dev sets (docs/results/quoter_tuning.json:
    # 104 notes dev and 300 SQuAD-es dev questions, 576 combinations): the best mean token
    # F1, 0.356 / 0.173. The top ten all sit within 0.004 of it, so the choice is flat.
    semantic_weight: float = 0.5
    lexical_weight: float = 0.5
    rank_weight: float = 0.1
    first_weight: float = 0.0
    # e5 query-passage cosines of an answering sentence sit around 0.85-0.9 and of an
    # unrelated one near 0.75: stretched to [0, 1] like the support checker does.
    cosine_floor: float = 0.75
    cosine_ceiling: float = 0.92
    second_margin: float = 0.05  # 0: one sentence only
    max_units_per_passage: int = 40  # a very long passage: its first 40 units

    def __post_init__(self) -> None:
        for name in (
            "semantic_weight",
            "lexical_weight",
            "rank_weight",
            "first_weight",
            "second_margin",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not -1.0 <= self.cosine_floor < self.cosine_ceiling <= 1.0:
            raise SettingsError(
                f"need -1 <= cosine_floor < cosine_ceiling <= 1, got {self.cosine_floor}, "
                f"{self.cosine_ceiling}"
            )
        if self.max_units_per_passage < 1:
            raise SettingsError(
                f"max_units_per_passage must be >= 1, got {self.max_units_per_passage}"
            )


@dataclass(frozen=True)
class ScoredUnit:
    n: int  # 1-based passage number
    index: int  # position of the unit in its passage
    text: str
    semantic: float
    lexical: float
    score: float


@dataclass(frozen=True)
class UnitFeatures:
    """Everything the score needs, for one question's units (the tuner reuses it)."""

    units: list[tuple[int, int, str]]  # (passage number, position, text)
    cosine: np.ndarray  # (n_units,)
    lexical: np.ndarray  # (n_units,)
    rank: np.ndarray  # (n_units,) 1 / passage rank
    first: np.ndarray  # (n_units,) 1.0 for a passage's first unit


class Quoter:
    def __init__(
        self, unit_vectors: Callable[[list[str]], np.ndarray], config: QuoterConfig | None = None
    ) -> None:
        """``unit_vectors``: texts -> (n, dim) L2-normalized passage embeddings, from the
        same embedder as the query vectors (the support checker's, which caches every
        unit it has seen: the units the quoter scores are the ones it checks)."""
        self.unit_vectors = unit_vectors
        self.config = config or QuoterConfig()

    def features(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> UnitFeatures:
        units = []
        for n, hit in enumerate(hits, start=1):
            pieces = passage_units(hit.chunk.text)[: self.config.max_units_per_passage]
            units += [(n, i, text) for i, text in enumerate(pieces)]
        if not units:
            empty = np.zeros(0, dtype=np.float32)
            return UnitFeatures([], empty, empty, empty, empty)
        vectors = self.unit_vectors([text for _, _, text in units])  # (n_units, dim)
        cosine = vectors @ np.asarray(query_vector, dtype=np.float32)
        terms = set(analyse(question))
        lexical = np.array(
            [
                len(terms & set(analyse(text))) / len(terms) if terms else 0.0
                for _, _, text in units
            ],
            dtype=np.float32,
        )
        rank = np.array([1.0 / n for n, _, _ in units], dtype=np.float32)
        first = np.array([1.0 if i == 0 else 0.0 for _, i, _ in units], dtype=np.float32)
        return UnitFeatures(units, cosine, lexical, rank, first)

    def score(self, features: UnitFeatures, config: QuoterConfig | None = None) -> np.ndarray:
        config = config or self.config
        semantic = np.clip(
            (features.cosine - config.cosine_floor) / (config.cosine_ceiling - config.cosine_floor),
            0.0,
            1.0,
        )
        return (
            config.semantic_weight * semantic
            + config.lexical_weight * features.lexical
            + config.rank_weight * features.rank
            + config.first_weight * features.first
        )

    def select(
        self, features: UnitFeatures, config: QuoterConfig | None = None
    ) -> list[ScoredUnit]:
        """The answer's units, best first (empty when the passages have none)."""
        config = config or self.config
        if not features.units:
            return []
        scores = self.score(features, config)
        order = np.argsort(-scores, kind="stable")

        def unit(i: int) -> ScoredUnit:
            n, position, text = features.units[i]
            return ScoredUnit(
                n,
                position,
                text,
                float(features.cosine[i]),
                float(features.lexical[i]),
                round(float(scores[i]), 4),
            )

        chosen = [unit(int(order[0]))]
        if config.second_margin > 0 and len(order) > 1:
            second = unit(int(order[1]))
            if second.n == chosen[0].n and chosen[0].score - second.score <= config.second_margin:
                chosen.append(second)
                chosen.sort(key=lambda u: u.index)  # in the passage's own order
        return chosen

    def draft(
        self, question: str, hits: list[Hit], query_vector: np.ndarray, quote: bool = False
    ) -> str:
        """The answer text: the chosen units, each closed by its [n]; ``quote`` puts them
        in «» (a fallback answer shown as the notes' own words)."""
        chosen = self.select(self.features(question, hits, query_vector))
        if quote:
            return " ".join(f"«{unit_sentence(u.text)}» [{u.n}]" for u in chosen)
        return " ".join(f"{unit_sentence(u.text)} [{u.n}]" for u in chosen)


def unit_sentence(unit: str) -> str:
    """A unit as an answer sentence: plain text, closed by a full stop when it has none
    (so the sentence splitter keeps its [n] with it)."""
    text = " ".join(plain_text(unit).split())
    return text if text.endswith((".", "!", "?", ":")) else text + "."
