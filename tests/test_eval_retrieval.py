"""The relevance rule, question-file parsing and the metrics against hand-computed cases."""

from __future__ import annotations

import json

import pytest

from corpus.errors import QuestionsFileError
from corpus.questions import Question, is_relevant, load_questions
from corpus.records import Chunk
from corpus.text import normalize
from eval.retrieval import evaluate_retrieval


@pytest.mark.parametrize(
    "text, expected",
    [
        ("El **Mecanismo** de  *atención*", "el mecanismo de atención"),
        ("`code_name` #título\n\n\tfin", "codename título fin"),
        ("  ya normal  ", "ya normal"),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "text, evidence, relevant",
    [
        ("Un **MLM** enmascara\npalabras.", ["mlm enmascara palabras"], True),
        ("Un MLM enmascara palabras.", ["otra cosa", "MLM ENMASCARA"], True),
        ("Un MLM enmascara palabras.", ["GPT predice"], False),
        ("Un MLM enmascara palabras.", [], False),
        ("Un MLM enmascara palabras.", [""], False),
    ],
)
def test_is_relevant(text, evidence, relevant):
    assert is_relevant(text, evidence) is relevant


class ScriptedIndex:
    """Stands in for NotesIndex: fixed chunks and a fixed ranking per question."""

    def __init__(self, texts: list[str], rankings: dict[str, list[int]]) -> None:
        self.chunks = [Chunk(f"c{i}", "n.md", "", t, 0, len(t)) for i, t in enumerate(texts)]
        self.rankings = rankings

    def retriever(self, name=None, dense_weight=None):
        rankings = self.rankings

        class Scripted:
            def rank(self, query, n):
                return [(row, 1.0 / (i + 1)) for i, row in enumerate(rankings[query][:n])]

        return Scripted()


def test_metrics_match_a_hand_computed_case():
    index = ScriptedIndex(
        ["alfa uno", "beta dos", "gamma tres", "alfa bis"],
        {"qa": [1, 0, 2], "qb": [2, 3, 0, 1], "qc": [1, 2]},
    )
    questions = [
        Question("a", "qa", evidence=["alfa"]),  # relevant c0, c3; first at rank 2
        Question("b", "qb", evidence=["beta"]),  # relevant c1 at rank 4
        Question("c", "qc", evidence=["no existe"]),  # no relevant chunk anywhere: a miss
        Question("u", "qu", answerable=False),  # ignored
    ]
    metrics = evaluate_retrieval(index, questions)
    assert metrics["n"] == 3
    assert metrics["recall@1"] == 0.0
    assert metrics["recall@3"] == round(1 / 3, 4)
    assert metrics["recall@5"] == round(2 / 3, 4)
    assert metrics["mrr@10"] == round((1 / 2 + 1 / 4) / 3, 4)
    # nDCG@10, binary gains: qa has 2 relevant (c0 at 2, c3 not retrieved), qb 1 at rank 4.
    import math

    ndcg_a = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg_b = 1 / math.log2(5)
    assert metrics["ndcg@10"] == pytest.approx((ndcg_a + ndcg_b) / 3, abs=1e-4)
    assert metrics["no_evidence_in_index"] == ["c"]


def test_load_questions_reads_the_documented_format(tmp_path):
    path = tmp_path / "q.jsonl"
    rows = [
        {"id": "1", "question": "¿Qué?", "answers": ["x"], "evidence": ["y"], "answerable": True},
        {"id": "2", "question": "¿Y?", "answers": [], "evidence": [], "answerable": False},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    questions = load_questions(path)
    assert [q.id for q in questions] == ["1", "2"]
    assert questions[1].answerable is False and questions[0].evidence == ["y"]


@pytest.mark.parametrize(
    "content, message",
    [("", "vacío"), ("{no json\n", "línea 1"), ('{"id": "1"}\n', "línea 1")],
    ids=["empty", "not_json", "missing_question"],
)
def test_bad_question_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(QuestionsFileError, match=message) as raised:
        load_questions(path)
    assert "\n" not in str(raised.value)
