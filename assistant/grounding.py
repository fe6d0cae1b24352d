"""Citations that point at the evidence: each answer sentence checked against what it cites.

``ground(sentences, scores, supported)`` takes the answer's sentences (with their [n]
markers) and the checker's (n_sentences, n_passages) support matrix, and per sentence:

- a cited passage that does not support the sentence loses the citation; when no cited
  passage supports it, the citation moves to the passage that does (the best one, if it
  reaches the threshold), else the sentence keeps its citations and is flagged;
- an uncited sentence is checked against every retrieved passage and gets a citation when
  one supports it, else it is flagged;
- a sentence is labelled supported only by the passages it ends up citing.

Hand-written: it is the answer pipeline's own rule, over the project's own checker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from assistant.citations import cited_numbers, strip_citations
from assistant.support import content_words
from corpus.markdown import prose_spans


@dataclass(frozen=True)
class EvidenceSpan:
    """The sentence of a cited passage that best backs an answer sentence: what the app
    highlights and ``ask --json`` reports. A passage is a whole note section (up to ~1,200
    characters); its one backing sentence lets the student check the claim at a glance.
    Known limit: a claim assembled from two sentences of the passage gets only the better
    of the two."""

    start: int  # character offsets into the passage text (Citation.text)
    end: int
    score: float  # the checker's support of the answer sentence by passage[start:end]
    n: int = 0  # the cited passage (0 in chats saved before it was recorded)


def evidence_spans(
    cited: list[list[int]], passages: dict[int, str], scores: Callable
) -> list[list[EvidenceSpan]]:
    """For each answer sentence, the best-backing sentence of each passage it cites.

    ``cited[i]``: the passage numbers sentence i cites; ``passages``: number -> text;
    ``scores(rows, texts)``: the checker's support of sentence i (rows are sentence
    indices) by each text, one call for every sentence and every candidate span.
    """
    candidates = [(n, span) for n in sorted(passages) for span in prose_spans(passages[n])]
    if not candidates or not any(cited):
        return [[] for _ in cited]
    matrix = scores([passages[n][start:end] for n, (start, end) in candidates])
    found: list[list[EvidenceSpan]] = []
    for i, numbers in enumerate(cited):
        best: dict[int, EvidenceSpan] = {}
        for (n, (start, end)), score in zip(candidates, matrix[i]):
            if n in numbers and (n not in best or float(score) > best[n].score):
                best[n] = EvidenceSpan(start, end, round(float(score), 4), n)
        found.append([best[n] for n in numbers if n in best])
    return found


@dataclass
class SentenceCheck:
    text: str  # the sentence without its markers
    cited: list[int]  # valid passage numbers the sentence cites (after repair)
    support: float  # against the passages it cites (0 when it cites none)
    best_support: float  # against the best of all retrieved passages
    supported: bool  # `support` reaches the checker's threshold
    invalid_citations: list[int] = field(default_factory=list)  # [n] with no passage n
    cited_support: list[float] = field(default_factory=list)  # support of each cited passage
    moved_from: list[int] = field(default_factory=list)  # citations dropped as not supporting
    added_citation: bool = False  # the sentence cited nothing and got its passage's [n]
    # The claims (clauses, list items: ``support.claim_spans``) of the sentence that its
    # evidence does not back, as written in ``text``; empty when the sentence makes one
    # claim, when every claim is backed, or when the checker does not read claims.
    unsupported_claims: list[str] = field(default_factory=list)
    # The sentence of each cited passage that backs it best (``evidence_spans``).
    evidence: list[EvidenceSpan] = field(default_factory=list)


# A sentence with fewer content words than this is a bare answer ("Francia", "siglos X y
# XI", "BART y T5"): it states nothing on its own, so its support is measured for the claim
# it makes together with the question. Otherwise a right span scores low (e5 sees one
# word) and a span that merely occurs in a passage is not tied to what was asked.
SHORT_ANSWER_WORDS = 4


def claim_text(sentence: str, question: str) -> str:
    """What the support checker scores for one answer sentence."""
    if question and len(content_words(sentence)) < SHORT_ANSWER_WORDS:
        return f"{question} {sentence}"
    return sentence


def _markers(numbers: list[int]) -> str:
    return " ".join(f"[{n}]" for n in numbers)


def ground(
    sentences: list[str], scores: np.ndarray, supported: Callable[[float], bool]
) -> tuple[list[SentenceCheck], list[str]]:
    """Checks and the sentences rewritten with their repaired markers (same order)."""
    checks, rewritten = [], []
    n_passages = scores.shape[1] if scores.ndim == 2 else 0
    for i, sentence in enumerate(sentences):
        row = scores[i] if n_passages else np.zeros(0)
        numbers = cited_numbers(sentence)
        valid = [n for n in numbers if 1 <= n <= n_passages]
        invalid = [n for n in numbers if not 1 <= n <= n_passages]
        best_n = int(row.argmax()) + 1 if n_passages else 0
        best = float(row.max()) if n_passages else 0.0
        kept = [n for n in valid if supported(float(row[n - 1]))]
        moved, added = [n for n in valid if n not in kept], False
        if not kept and supported(best):
            kept, added = [best_n], not valid
        elif not kept:  # nothing supports it: keep what it cited, and flag it
            kept, moved = valid, []
        support = max((float(row[n - 1]) for n in kept), default=0.0)
        plain = strip_citations(sentence)
        checks.append(
            SentenceCheck(
                plain,
                kept,
                round(support, 4),
                round(best, 4),
                supported(support) if kept else False,
                invalid,
                [round(float(row[n - 1]), 4) for n in kept],
                moved,
                added,
            )
        )
        changed = kept != valid or invalid
        rewritten.append(f"{plain} {_markers(kept)}".strip() if changed else sentence)
    return checks, rewritten


def rewrite(text: str, originals: list[str], rewritten: list[str]) -> str:
    """``text`` with each original sentence replaced by its rewrite, layout kept (list
    lines stay lines)."""
    out, cursor = [], 0
    for original, new in zip(originals, rewritten):
        found = text.find(original, cursor)
        if found < 0:  # split_sentences moved a marker across a line: rebuild plainly
            return " ".join(rewritten)
        out.append(text[cursor:found])
        out.append(new)
        cursor = found + len(original)
    out.append(text[cursor:])
    return "".join(out).strip()
