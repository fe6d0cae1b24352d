"""When to say "No encuentro esto en tus notas." before generating anything.

Retrieval confidence = the best e5 cosine between the question and the retrieved passages,
and the share of the question's content words (Spanish stems) found in them. Off-topic
questions score low on both; near-topic ones (a term the notes never mention) on the
second. Thresholds are tuned on the dev set (docs/RESULTS.md). The other half of abstention
happens after generation: a draft with no supported sentence is withdrawn (answer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.records import Hit
from index.bm25 import analyse


@dataclass(frozen=True)
class RetrievalConfidence:
    similarity: float  # best cosine, question vs passage (e5)
    coverage: float  # share of the question's content stems present in the passages


@dataclass(frozen=True)
class AbstentionConfig:
    # Tuned on the dev set's retrieval signals alone (docs/RESULTS.md): together they
    # abstained on 76% of the unanswerable questions and 3.8% of the answerable ones; the
    # support check after generation catches more of the rest.
    min_similarity: float = 0.845
    min_coverage: float = 0.4

    def __post_init__(self) -> None:
        for name in ("min_similarity", "min_coverage"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    def confident(self, confidence: RetrievalConfidence) -> bool:
        return (
            confidence.similarity >= self.min_similarity
            and confidence.coverage >= self.min_coverage
        )


def retrieval_confidence(index, query: str, hits: list[Hit]) -> RetrievalConfidence:
    if not hits:
        return RetrievalConfidence(0.0, 0.0)
    similarities = index.similarities(query, [hit.chunk for hit in hits])
    terms = set(analyse(query))
    found = {term for hit in hits for term in analyse(hit.chunk.embed_text())}
    coverage = len(terms & found) / len(terms) if terms else 0.0
    return RetrievalConfidence(float(np.max(similarities)), coverage)
