"""Which part of a cited passage backs an answer sentence.

A passage is a whole note section (up to ~1,200 characters); showing it with the one
sentence that supports the claim highlighted lets the student check the claim at a glance.
The passage is cut into its sentences (pysbd, one Markdown line at a time, so list items
and table rows stay apart) and the support checker scores each against the answer
sentence; the best one is the evidence.

Known limit: a claim assembled from two sentences of the passage gets only the better of
the two highlighted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from assistant.answer import Answer
from assistant.support import Checker
from assistant.web.markdown_html import passage_html
from corpus.text import sentences

_SKIPPED_LINE_STARTS = ("#", "```", "~~~", "|--", "|:-", "---")  # headings, fences, rules


@dataclass(frozen=True)
class Evidence:
    start: int  # character offsets into the passage text
    end: int
    score: float  # the checker's support of the sentence by passage[start:end]


@lru_cache(maxsize=1024)
def sentence_spans(passage: str) -> tuple[tuple[int, int], ...]:
    """(start, end) offsets of the passage's sentences, headings and fences left out."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in passage.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not stripped.startswith(_SKIPPED_LINE_STARTS):
            cursor = 0
            for piece in sentences(line):
                piece = piece.strip()
                found = line.find(piece, cursor) if piece else -1
                if found < 0:  # pysbd never rewrites text with clean=False; be safe anyway
                    continue
                spans.append((offset + found, offset + found + len(piece)))
                cursor = found + len(piece)
        offset += len(line)
    return tuple(spans)


def best_spans(sentence: str, passages: list[str], checker: Checker) -> list[Evidence | None]:
    """For each passage, its sentence that best supports ``sentence`` (None if it has none).

    One checker call for all passages: the answer sentence is embedded once.
    """
    candidates = [
        (p, span) for p, passage in enumerate(passages) for span in sentence_spans(passage)
    ]
    if not candidates:
        return [None] * len(passages)
    texts = [passages[p][start:end] for p, (start, end) in candidates]
    scores = checker.scores([sentence], texts)[0]
    best: list[Evidence | None] = [None] * len(passages)
    for (p, (start, end)), score in zip(candidates, scores):
        if best[p] is None or float(score) > best[p].score:
            best[p] = Evidence(start, end, round(float(score), 4))
    return best


def answer_evidence(answer: Answer, checker: Checker) -> dict[tuple[int, int], Evidence]:
    """(sentence index, passage number) -> the evidence, for every citation of the answer."""
    passages = {citation.n: citation.text for citation in answer.citations}
    evidence: dict[tuple[int, int], Evidence] = {}
    for i, check in enumerate(answer.sentences):
        cited = [n for n in check.cited if n in passages]
        if not cited:
            continue
        spans = best_spans(check.text, [passages[n] for n in cited], checker)
        for n, span in zip(cited, spans):
            if span is not None:
                evidence[(i, n)] = span
    return evidence


def highlight_html(passage: str, source: str, evidence: Evidence | None) -> str:
    """The passage of note ``source`` as a source card's ``passage`` block (Markdown
    rendered, no live HTML of the note's own) with the evidence wrapped in <mark>."""
    mark = None if evidence is None else (evidence.start, evidence.end)
    title = "" if evidence is None else f"respaldo {evidence.score:.2f}"
    return passage_html(passage, source, mark, title)
