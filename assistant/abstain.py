"""When to say "No encuentro esto en tus notas." before generating anything.

Retrieval confidence = the best e5 cosine between the question and the retrieved passages,
the share of the question's content words (Spanish stems) found in them, and the names the
question uses (acronyms, code-like or capitalized terms: "DPO", "RoPE", "FlashAttention")
that no note ever writes. Off-topic questions score low on the first two; near-topic ones
often name a technique the notes never mention, which e5 places close to its neighbours
("DPO" beside "RLHF") and only the third signal sees. Thresholds are tuned on the dev set
(docs/RESULTS.md). The other half of abstention
happens after generation: a draft none of whose sentences reaches ``min_answer_support``
is withdrawn (answer.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np

from assistant.support import named_terms, passage_words
from corpus.records import Hit
from index.bm25 import analyse


@dataclass(frozen=True)
class RetrievalConfidence:
    similarity: float  # best cosine, question vs passage (e5)
    coverage: float  # share of the question's content stems present in the passages
    unknown_names: tuple[str, ...] = ()  # names in the question that no note writes


@dataclass(frozen=True)
class AbstentionConfig:
    # Tuned on the dev set's retrieval signals alone (docs/RESULTS.md): together they
    # abstained on 76% of the unanswerable questions and 3.8% of the answerable ones; the
    # support check after generation catches more of the rest.
    min_similarity: float = 0.845
    min_coverage: float = 0.4
    # A question about a name the notes never write cannot be answered from them; on the
    # dev set this caught 2 more unanswerable questions (DPO, RoPE) and no answerable one.
    abstain_on_unknown_names: bool = True
    # After generation: a draft is withdrawn when none of its sentences reaches this
    # support. Lower than the checker's flagging threshold (0.7535): below 0.47 no supported
    # sentence of eval/data/support_dev.jsonl scored (2 of 3 unsupported ones did,
    # docs/results/support.json "withdraw_threshold"), so a correct but loosely worded
    # answer is shown with its sentences flagged instead of being withdrawn.
    min_answer_support: float = 0.47

    def __post_init__(self) -> None:
        for name in ("min_similarity", "min_coverage", "min_answer_support"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    def confident(self, confidence: RetrievalConfidence) -> bool:
        return (
            confidence.similarity >= self.min_similarity
            and confidence.coverage >= self.min_coverage
            and not (self.abstain_on_unknown_names and confidence.unknown_names)
        )


# Every word the notes of an index write (see support.passage_words), computed once per
# loaded index.
_vocabularies: WeakKeyDictionary = WeakKeyDictionary()


def notes_vocabulary(index) -> frozenset[str]:
    if index not in _vocabularies:
        _vocabularies[index] = frozenset().union(
            *(passage_words(chunk.text) for chunk in index.chunks)
        )
    return _vocabularies[index]


def retrieval_confidence(index, query: str, hits: list[Hit]) -> RetrievalConfidence:
    if not hits:
        return RetrievalConfidence(0.0, 0.0)
    similarities = index.similarities(query, [hit.chunk for hit in hits])
    terms = set(analyse(query))
    found = {term for hit in hits for term in analyse(hit.chunk.embed_text())}
    coverage = len(terms & found) / len(terms) if terms else 0.0
    vocabulary = notes_vocabulary(index)
    unknown = tuple(sorted(
        written for name, written in named_terms(query).items() if name not in vocabulary
    ))
    return RetrievalConfidence(float(np.max(similarities)), coverage, unknown)
