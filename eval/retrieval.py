"""Retrieval metrics over a question file: recall@k, MRR@10 and nDCG@10 (binary relevance).

recall@k here is the share of answerable questions with at least one relevant passage in
the top k (trec_eval's success@k), the figure that matters when the top passages are handed
to a generator. The metrics come from trec_eval (pytrec-eval-terrier).
"""

from __future__ import annotations

import pytrec_eval

from corpus.questions import Question, is_relevant
from index.store import NotesIndex

DEPTH = 10  # MRR and nDCG are cut at 10


def relevant_chunks(index: NotesIndex, question: Question) -> set[str]:
    return {c.id for c in index.chunks if is_relevant(c.text, question.evidence)}


def evaluate_retrieval(
    index: NotesIndex,
    questions: list[Question],
    retriever: str | None = None,
    dense_weight: float | None = None,
) -> dict:
    """Metrics over the answerable rows; a question whose evidence is in no chunk scores 0."""
    answerable = [q for q in questions if q.answerable]
    search = index.retriever(retriever, dense_weight)
    qrels, run, per_question = {}, {}, {}
    for question in answerable:
        relevant = relevant_chunks(index, question)
        ranking = search.rank(question.question, DEPTH)
        ids = [index.chunks[row].id for row, _ in ranking]
        per_question[question.id] = ids
        if relevant:
            qrels[question.id] = {chunk_id: 1 for chunk_id in relevant}
            # trec_eval orders by score: rank-derived scores keep our order and break ties.
            run[question.id] = {chunk_id: float(DEPTH - i) for i, chunk_id in enumerate(ids)}

    measures = {"success.1,3,5", "recip_rank", "ndcg_cut.10"}
    scored = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run) if qrels else {}
    names = {
        "recall@1": "success_1",
        "recall@3": "success_3",
        "recall@5": "success_5",
        "mrr@10": "recip_rank",
        "ndcg@10": "ndcg_cut_10",
    }
    n = len(answerable)
    metrics = {"n": n}
    for name, measure in names.items():
        total = sum(scored.get(q.id, {}).get(measure, 0.0) for q in answerable)
        metrics[name] = round(total / n, 4) if n else 0.0
    metrics["no_evidence_in_index"] = sorted(q.id for q in answerable if q.id not in qrels)
    return metrics
