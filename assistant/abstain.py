"""Abstention, one policy: when to say "No encuentro esto en tus notas." instead of guessing.

``AbstentionPolicy`` decides at the moments the assistant can abstain:

1. **before** generating (``before``): retrieval confidence = the best e5 cosine between
   the question and the retrieved passages, the share of the question's content words
   (Spanish stems) found in them, and the names the question uses (acronyms, code-like or
   capitalized terms: "DPO", "RoPE") that no note ever writes. Off-topic questions score
   low on the first two; near-topic ones often name a technique the notes never mention,
   which e5 places close to its neighbours and only the third signal sees. A question in
   another language than the notes shares no stems with them, so only the cosine (at its
   own threshold) is used for it.
2. **after selecting** the evidence (``after_selection``): the evidence selector's
   no-answer score (assistant/selection) above ``max_no_answer``.
3. **during** writing (``generation``): the model's own abstention counts only when
   its first token begins it with at least ``veto_below`` probability
   (``GenerationConfig.veto``): the writer's veto.
4. **after** writing (``withdraw``): a draft none of whose sentences reaches
   ``min_answer_support`` is withdrawn and the evidence is shown instead, quoted: the
   selector has already judged the question answerable, so the notes' own sentence is a
   better answer than none.

``is_abstention`` (assistant/prompts.py, beside the sentence itself) is the one test of an
abstaining text. Thresholds are tuned on the dev set (docs/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from weakref import WeakKeyDictionary

import numpy as np

from assistant.generators.base import GenerationConfig
from assistant.language import is_spanish
from assistant.prompts import ABSTAIN, is_abstention  # noqa: F401  (is_abstention: re-exported)
from assistant.support import named_terms, passage_words
from corpus.errors import SettingsError
from corpus.records import Hit
from corpus.text import analyse


@dataclass(frozen=True)
class RetrievalConfidence:
    similarity: float  # best cosine, question vs passage (e5)
    coverage: float  # share of the question's content stems present in the passages
    unknown_names: tuple[str, ...] = ()  # names in the question that no note writes
    same_language: bool = True  # the question is in the notes' language (Spanish)


@dataclass(frozen=True)
class AbstentionPolicy:
    # -- before: tuned on the dev set's retrieval signals alone (docs/RESULTS.md): together
    # they abstained on 76% of the unanswerable questions and 3.8% of the answerable ones.
    min_similarity: float = 0.845
    min_coverage: float = 0.4
    # A question about a name the notes never write cannot be answered from them; on the
    # dev set this caught 2 more unanswerable questions (DPO, RoPE) and no answerable one.
    abstain_on_unknown_names: bool = True
    # A question in another language: e5 is multilingual but a cross-lingual cosine runs
    # lower than a same-language one (English questions over the notes: see
    # docs/RESULTS.md), and stem coverage means nothing across languages.
    min_similarity_other_language: float = 0.80
    # -- during: tuned with `python -m eval.tune.abstain_sweep` (docs/results/abstain_sweep_*.json,
    # Gemma + LoRA zero-shot): from 0.5 to 0.9, abstention on answerable questions went from
    # 26% to 11% (held-out: 28% to 12.5%), unanswerable unchanged at 88%.
    veto_below: float = 0.9
    # -- after: a draft is withdrawn when none of its sentences reaches this support. Lower
    # than the checker's flagging threshold (0.7535): below 0.47 no supported sentence of
    # eval/data/support_dev.jsonl scored (docs/results/support.json "withdraw_threshold"),
    # so a correct but loosely worded answer is shown flagged instead of withdrawn.
    min_answer_support: float = 0.47
    # -- after selection: the evidence selector's no-answer score above this abstains
    # (1.0: never) (assistant/selection). Chosen on the dev sets by SQuAD v2 overall F1
    # of the writer's answers (eval/tune/no_answer.py, docs/results/no_answer.json): flat
    # from 0.4 to 0.65 (0.403-0.408), and 0.65 abstains least within that (4% of the notes'
    # answerable questions against 12.5% at 0.5).
    max_no_answer: float = 0.65
    # A question in another language: the no-answer model reads stem overlap with the
    # units, which is nil across languages, so it would refuse most English questions;
    # the retrieval gate's cross-language cosine decides alone (1.0: never). Not tuned.
    max_no_answer_other_language: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "min_similarity",
            "min_coverage",
            "min_similarity_other_language",
            "veto_below",
            "max_no_answer",
            "max_no_answer_other_language",
            "min_answer_support",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SettingsError(f"{name} must be in [0, 1], got {value}")

    # -- 1. before -------------------------------------------------------------------------

    def confident(self, confidence: RetrievalConfidence) -> bool:
        return self.before(confidence) is None

    def before(self, confidence: RetrievalConfidence) -> str | None:
        """Why to abstain without generating (a note for the student), or None."""
        if self.abstain_on_unknown_names and confidence.unknown_names:
            return f"tus notas no mencionan: {', '.join(confidence.unknown_names)}"
        if confidence.same_language:
            ok = (
                confidence.similarity >= self.min_similarity
                and confidence.coverage >= self.min_coverage
            )
        else:
            ok = confidence.similarity >= self.min_similarity_other_language
        return None if ok else "poca confianza en la recuperación"

    # -- 2. after selection ----------------------------------------------------------------

    def after_selection(self, no_answer: float, same_language: bool = True) -> str | None:
        """Why to abstain once the evidence selector has ranked the units, or None."""
        limit = self.max_no_answer if same_language else self.max_no_answer_other_language
        if no_answer > limit:
            return "ninguna frase de los pasajes parece responder"
        return None

    # -- 3. during -------------------------------------------------------------------------

    def generation(self, config: GenerationConfig, stop: tuple[str, ...]) -> GenerationConfig:
        """The generation settings with the veto of an unlikely abstention."""
        return replace(config, stop=stop, veto=ABSTAIN, veto_below=self.veto_below)

    # -- 4. after --------------------------------------------------------------------------

    def withdraw(self, best_supports: list[float]) -> bool:
        """Withdraw a draft whose every sentence is below ``min_answer_support``."""
        return not any(score >= self.min_answer_support for score in best_supports)


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
    unknown = tuple(
        sorted(written for name, written in named_terms(query).items() if name not in vocabulary)
    )
    return RetrievalConfidence(float(np.max(similarities)), coverage, unknown, is_spanish(query))
