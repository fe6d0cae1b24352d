"""Answer quality over a question file.

- token_f1 / exact_match: SQuAD-style, best over the references, with MLQA's Spanish
  normalization (lowercase, no punctuation, no articles el/la/lo/los/las/un/una/unos/unas).
  Citation markers are removed first. Over the answerable rows; an abstention scores 0.
- rouge_l: ROUGE-L F-measure (rouge-score) on the same normalized tokens.
- citation_recall / citation_precision: ALCE-style (Gao et al., 2023) with our support
  checker as the judge instead of an NLI model: a sentence's citations are complete when
  the passages it cites support it; a citation is precise when its passage alone supports
  the sentence it is attached to. Averaged per answer, then over non-abstained answers.
- supported_rate: share of answer sentences the notes support (best retrieved passage).
- abstain_unanswerable / abstain_answerable: share of each kind of row abstained.
"""

from __future__ import annotations

import re
import statistics
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rouge_score import rouge_scorer

from assistant.answer import Answer
from assistant.citations import strip_citations
from eval.questions import Question

_ARTICLES = re.compile(r"\b(el|la|lo|los|las|un|una|unos|unas)\b")
_PUNCTUATION = set(string.punctuation) | {"¿", "¡", "«", "»", "“", "”", "‘", "’", "…", "—", "–"}


def normalize_answer(text: str) -> str:
    text = strip_citations(text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = sum((Counter(predicted) & Counter(gold)).values())
    if not predicted or not gold:
        return float(predicted == gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


class _Tokens:
    """rouge-score's default tokenizer drops every non-ASCII letter ("atención" -> "atenci n")."""

    def tokenize(self, text: str) -> list[str]:
        return unicodedata.normalize("NFC", normalize_answer(text)).split()


_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokens())


def rouge_l(prediction: str, reference: str) -> float:
    return _ROUGE.score(reference, prediction)["rougeL"].fmeasure


def best(metric: Callable[[str, str], float], prediction: str, references: list[str]) -> float:
    return max((metric(prediction, ref) for ref in references), default=0.0)


@dataclass
class Scored:
    question: Question
    answer: Answer


def citation_scores(answer: Answer, is_supported: Callable[[float], bool]) -> tuple[float, float]:
    """(recall, precision) of one non-abstained answer, ALCE-style."""
    if not answer.sentences:
        return 0.0, 0.0
    recall = statistics.mean(
        float(bool(s.cited) and is_supported(s.support)) for s in answer.sentences
    )
    citations = [score for s in answer.sentences for score in s.cited_support]
    precision = statistics.mean(float(is_supported(c)) for c in citations) if citations else 0.0
    return recall, precision


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(statistics.mean(values), 4) if values else 0.0


def _p50(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def _score(metric, result: Scored) -> float:
    """Best over the references; an abstention on an answerable row scores 0."""
    if result.answer.abstained:
        return 0.0
    return best(metric, result.answer.answer, result.question.answers)


def summarize(results: list[Scored], is_supported: Callable[[float], bool]) -> dict:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    answered = [r for r in results if not r.answer.abstained]
    citation = [citation_scores(r.answer, is_supported) for r in answered]
    sentences = [s for r in answered for s in r.answer.sentences]
    return {
        "n": len(answerable),
        "token_f1": _mean(_score(token_f1, r) for r in answerable),
        "exact_match": _mean(_score(exact_match, r) for r in answerable),
        "rouge_l": _mean(_score(rouge_l, r) for r in answerable),
        "citation_precision": _mean(p for _, p in citation),
        "citation_recall": _mean(r for r, _ in citation),
        "supported_rate": _mean(float(s.supported) for s in sentences),
        "abstain_unanswerable": _mean(float(r.answer.abstained) for r in unanswerable),
        "abstain_answerable": _mean(float(r.answer.abstained) for r in answerable),
        "first_token_ms_p50": _p50(r.answer.timings["first_token_ms"] for r in results),
        "total_ms_p50": _p50(r.answer.timings["total_ms"] for r in results),
        "n_unanswerable": len(unanswerable),
        "n_answered": len(answered),
    }


def limit_questions(questions: list[Question], limit: int | None) -> list[Question]:
    """The first ``limit`` rows, keeping the file's share of unanswerable rows (at least one
    of each kind when both exist), so a quick look still measures abstention."""
    if not limit or limit >= len(questions):
        return questions
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    n_un = round(limit * len(unanswerable) / len(questions))
    if unanswerable and answerable and limit >= 2:
        n_un = min(max(n_un, 1), limit - 1)
    return answerable[: limit - n_un] + unanswerable[:n_un]


def run_answer_eval(
    notes: str,
    questions: str,
    strategy: str = "zero-shot",
    model: str = "gemma-270m",
    adapter: str | None = None,
    limit: int | None = None,
    index_dir: str | None = None,
    log: str | None = None,
    progress: bool = True,
    assistant=None,
    seed: int = 0,
    precision: str | None = None,
) -> dict:
    """Answer every question of the file and summarize; ``assistant`` overrides the model
    (tests pass one built on a scripted generator)."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    from tqdm import tqdm

    from assistant.session import load_assistant, open_index
    from eval.questions import load_questions

    rows = limit_questions(load_questions(questions), limit)
    if assistant is None:
        index = open_index(index_dir, notes)
        assistant = load_assistant(index, model=model, adapter=adapter, strategy=strategy,
                                   seed=seed, precision=precision)
    results = []
    log_file = open(log, "w", encoding="utf-8") if log else None
    try:
        for question in tqdm(rows, desc="Respondiendo", unit="preg", disable=not progress):
            answer = assistant.answer(question.question, section=question.section)
            results.append(Scored(question, answer))
            if log_file:
                record = {"question": asdict(question), "answer": answer.to_json()}
                log_file.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if log_file:
            log_file.close()
    summary = summarize(results, assistant.checker.supported)
    summary["config"] = {
        "notes": str(Path(notes).resolve()),
        "questions": str(Path(questions).resolve()),
        "limit": limit,
        "strategy": assistant.strategy.name,
        "model": assistant.generator.name,
        "adapter": assistant.generator.adapter,
        "precision": getattr(getattr(assistant.generator, "config", None), "precision", None),
        "seed": seed,
        "assistant": asdict(assistant.config),
        "index": asdict(assistant.index.config),
    }
    return summary
