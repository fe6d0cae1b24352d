"""Answer quality over a question file.

- token_f1 / exact_match: SQuAD-style, best over the references, with MLQA's Spanish
  normalization (lowercase, no punctuation, no articles el/la/lo/los/las/un/una/unos/unas).
  Citation markers are removed first. Over the answerable rows; an abstention scores 0.
- rouge_l: ROUGE-L F-measure (rouge-score) on the same normalized tokens.
- citation_recall / citation_precision: ALCE-style (Gao et al., 2023) with our support
  checker as the judge instead of an NLI model: a sentence's citations are complete when
  the passages it cites support it; a citation is precise when its passage alone supports
  the sentence it is attached to. Averaged per answer, then over non-abstained answers.
- supported_rate: share of answer sentences the notes support (best retrieved passage),
  pooled over the sentences of all answered rows; supported_share is the per-answer
  share (the unit the experiment grid averages, one value per question).
- abstain_unanswerable / abstain_answerable: share of each kind of row abstained.

``score_question`` computes every metric of one row; ``summarize`` and the experiment grid
(eval/experiment/grid.py) only aggregate its QuestionScores.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from assistant.answer import Answer
from assistant.settings import ChatSettings
from corpus.errors import SettingsError
from corpus.files import check_output_path
from corpus.questions import Question, is_relevant
from eval.metrics import best, exact_match, rouge_l, token_f1


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


@dataclass(frozen=True)
class QuestionScores:
    """Every metric of one answered question; None where the row is outside the metric's
    subset (quality on answerable rows, citations on answered rows)."""

    id: str
    answerable: bool
    abstained: bool
    token_f1: float | None  # answerable rows; an abstention scores 0
    exact_match: float | None
    rouge_l: float | None
    citation_recall: float | None  # answered (non-abstained) rows
    citation_precision: float | None
    sentences: int  # sentences of an answered row (0 when abstained)
    supported_sentences: int
    first_token_ms: float | None  # None when the model was never called
    total_ms: float | None
    # Citations of an answered answerable row, and how many of them name a passage that
    # contains one of the question's evidence strings: a judge independent of our checker.
    citations: int = 0
    evidence_citations: int = 0

    @property
    def supported_share(self) -> float | None:
        """Share of this answer's sentences the notes support (answered rows)."""
        if self.abstained:
            return None
        return self.supported_sentences / self.sentences if self.sentences else 0.0

    def values(self) -> dict[str, float | None]:
        """One value per metric of METRICS for this row, None outside the metric's subset."""
        return {
            "token_f1": self.token_f1,
            "exact_match": self.exact_match,
            "rouge_l": self.rouge_l,
            "citation_precision": self.citation_precision,
            "citation_recall": self.citation_recall,
            "supported_share": self.supported_share,
            "abstain_unanswerable": None if self.answerable else float(self.abstained),
            "abstain_answerable": float(self.abstained) if self.answerable else None,
            "citation_evidence": self.evidence_citations / self.citations
            if self.citations
            else None,
            "first_token_ms": self.first_token_ms,
            "total_ms": self.total_ms,
        }


# The per-question metrics, in display order (QuestionScores.values() keys).
METRICS = (
    "token_f1",
    "exact_match",
    "rouge_l",
    "citation_precision",
    "citation_recall",
    "supported_share",
    "abstain_unanswerable",
    "abstain_answerable",
    "citation_evidence",
    "first_token_ms",
    "total_ms",
)


def _score(metric, result: Scored) -> float:
    """Best over the references; an abstention on an answerable row scores 0."""
    if result.answer.abstained:
        return 0.0
    return best(metric, result.answer.answer, result.question.answers)


def score_question(result: Scored, is_supported: Callable[[float], bool]) -> QuestionScores:
    """The one place where a question's metrics are computed (summarize and the
    experiment grid both aggregate these)."""
    question, answer = result.question, result.answer
    quality = {
        name: _score(metric, result) if question.answerable else None
        for name, metric in (
            ("token_f1", token_f1),
            ("exact_match", exact_match),
            ("rouge_l", rouge_l),
        )
    }
    recall = precision = None
    if not answer.abstained:
        recall, precision = citation_scores(answer, is_supported)
    sentences = [] if answer.abstained else answer.sentences
    citations = evidence_citations = 0
    if question.answerable and not answer.abstained and question.evidence:
        texts = {c.n: c.text for c in answer.citations}
        cited = [n for s in sentences for n in s.cited if n in texts]
        citations = len(cited)
        evidence_citations = sum(is_relevant(texts[n], question.evidence) for n in cited)
    return QuestionScores(
        id=question.id,
        answerable=question.answerable,
        abstained=answer.abstained,
        **quality,
        citation_recall=recall,
        citation_precision=precision,
        sentences=len(sentences),
        supported_sentences=sum(s.supported for s in sentences),
        first_token_ms=answer.timings.first_token_ms,
        total_ms=answer.timings.total_ms,
        citations=citations,
        evidence_citations=evidence_citations,
    )


def _mean(values: Iterable[float | None]) -> float:
    values = [v for v in values if v is not None]
    return round(statistics.mean(values), 4) if values else 0.0


def _p50(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def summarize(results: list[Scored], is_supported: Callable[[float], bool]) -> dict:
    return summarize_scores([score_question(r, is_supported) for r in results])


def summarize_scores(scores: list[QuestionScores]) -> dict:
    """Means over each metric's subset; supported_rate pools the sentences of all answered
    rows (a long answer weighs more than in the per-answer supported_share)."""
    answerable = [s for s in scores if s.answerable]
    answered = [s for s in scores if not s.abstained]
    sentences = sum(s.sentences for s in answered)
    return {
        "n": len(answerable),
        "token_f1": _mean(s.token_f1 for s in answerable),
        "exact_match": _mean(s.exact_match for s in answerable),
        "rouge_l": _mean(s.rouge_l for s in answerable),
        "citation_precision": _mean(s.citation_precision for s in answered),
        "citation_recall": _mean(s.citation_recall for s in answered),
        "supported_rate": round(sum(s.supported_sentences for s in answered) / sentences, 4)
        if sentences
        else 0.0,
        "abstain_unanswerable": _mean(float(s.abstained) for s in scores if not s.answerable),
        "abstain_answerable": _mean(float(s.abstained) for s in answerable),
        # Pooled over every citation of the answered answerable rows.
        "citation_evidence": round(
            sum(s.evidence_citations for s in scores) / sum(s.citations for s in scores), 4
        )
        if any(s.citations for s in scores)
        else 0.0,
        "first_token_ms_p50": _p50(s.first_token_ms for s in scores),
        "total_ms_p50": _p50(s.total_ms for s in scores),
        "n_unanswerable": len(scores) - len(answerable),
        "n_answered": len(answered),
    }


def limit_questions(questions: list[Question], limit: int | None) -> list[Question]:
    """The first ``limit`` rows, keeping the file's share of unanswerable rows (at least one
    of each kind when both exist), so a quick look still measures abstention. None is
    every row; 0 or less is an error (it once meant every row, silently)."""
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        raise SettingsError(f"--limit debe ser al menos 1, no {limit}")
    if limit is None or limit >= len(questions):
        return questions
    answerable = [q for q in questions if q.answerable]
    unanswerable = [q for q in questions if not q.answerable]
    n_un = round(limit * len(unanswerable) / len(questions))
    if unanswerable and answerable and limit >= 2:
        n_un = min(max(n_un, 1), limit - 1)
    return answerable[: limit - n_un] + unanswerable[:n_un]


def check_log_path(
    log: str | Path,
    questions: str | Path,
    notes: str | Path,
    index_dir: str | Path | None = None,
    model: str = ChatSettings.model,
    adapter: str | None = None,
) -> None:
    """SettingsError unless ``log`` is a file path clear of every input of the run: the
    question file (``--log Q.jsonl --questions Q.jsonl`` once overwrote the questions),
    the notes, the index (the notes' default one without ``index_dir``) and the adapter."""
    from assistant.generators.adapters import adapter_for
    from corpus.paths import default_index_dir

    inputs = {
        "preguntas": questions,
        "notas": notes,
        "índice": index_dir or default_index_dir(Path(notes)),
        "adaptador": adapter_for(model, adapter),
    }
    check_output_path(log, "--log", inputs)
    if Path(log).is_dir():
        raise SettingsError(f"--log {log} es una carpeta; indica un archivo .jsonl")


def run_answer_eval(
    notes: str,
    questions: str,
    strategy: str = ChatSettings.strategy,
    model: str = ChatSettings.model,
    adapter: str | None = None,
    limit: int | None = None,
    index_dir: str | None = None,
    log: str | None = None,
    progress: bool = True,
    assistant=None,
    seed: int = 0,
    precision: str | None = None,
    passages: int = ChatSettings.passages,
    finish=None,
    append: bool = False,
    base_url: str | None = None,
) -> dict:
    """Answer every question of the file and summarize; ``assistant`` overrides the model
    (tests pass one built on a scripted generator); ``finish(question, answer)`` may return
    a changed answer before it is scored and logged (a replay restores its timings).

    ``log`` is replaced, or extended with ``append``; it may not be an input (the question
    file, or a path inside the notes, the index or the adapter). Whether an existing log
    may be replaced is the caller's decision (the CLI asks for --force)."""
    import json
    from dataclasses import asdict

    from tqdm import tqdm

    from assistant.settings import load_assistant
    from corpus.questions import load_questions
    from index.store import open_index

    if log:
        check_log_path(log, questions, notes, index_dir, model, adapter)
    rows = limit_questions(load_questions(questions), limit)
    if assistant is None:
        index = open_index(notes, index_dir)[0]
        assistant = load_assistant(
            index,
            model=model,
            adapter=adapter,
            strategy=strategy,
            seed=seed,
            precision=precision,
            passages=passages,
            base_url=base_url,
        )
    results = []
    log_file = open(log, "a" if append else "w", encoding="utf-8") if log else None
    try:
        for question in tqdm(rows, desc="Respondiendo", unit="preg", disable=not progress):
            answer = assistant.answer(question.question, section=question.section)
            if finish is not None:
                answer = finish(question, answer)
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
        "model": assistant.model_name,
        "adapter": assistant.adapter_name,
        "precision": getattr(getattr(assistant.generator, "config", None), "precision", None),
        # A served model (openai:NAME): the server it was asked through.
        "base_url": getattr(assistant.generator, "url", None),
        "draft_tokens": getattr(getattr(assistant.generator, "config", None), "draft_tokens", None),
        "seed": seed,
        "assistant": asdict(assistant.config),
        "index": asdict(assistant.index.config),
    }
    return summary
