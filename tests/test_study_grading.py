"""The quiz's grader (``assistant.study.grading``) and its training
(``assistant.study.grade_fit``), with the word-overlap fake checker; the real checker's
figures are in docs/RESULTS.md (``python -m eval.tune.quiz``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.study import grade_fit
from assistant.study.cards import build_cards
from assistant.study.grading import FEATURES, GradeModel, measure_answer, shipped_model
from assistant.study.quiz import answer_claims, grade_answer
from corpus.errors import AssistantError, SettingsError
from corpus.loader import load_notes
from tests.conftest import NOTES
from tests.fakes import OverlapChecker


@pytest.fixture(scope="module")
def cards():
    return build_cards(load_notes(NOTES).notes)


def _card(cards, front):
    (card,) = [c for c in cards if c.front == front]
    return card


def _measures(card, answer):
    claims = answer_claims(answer)
    return measure_answer(card, claims, answer_claims(card.back), OverlapChecker())


def test_the_back_verbatim_measures_whole(cards):
    card = _card(cards, "¿Qué es LoRA?")
    measures = _measures(card, card.back)
    assert measures.overlap == 1.0 and measures.coverage_min == 1.0
    assert measures.stem_recall == 1.0 and measures.stem_precision == 1.0
    assert measures.length_ratio == 0.0


def test_half_an_answer_measures_less_coverage_and_length(cards):
    card = _card(cards, "¿Qué es LoRA?")
    whole, half = _measures(card, card.back), _measures(card, answer_claims(card.back)[0])
    assert half.support == 1.0  # what it says is right
    assert half.coverage < whole.coverage and half.stem_recall < whole.stem_recall
    assert half.length_ratio < 0


def _rows(kinds: dict[str, list[float]]) -> tuple[np.ndarray, list[str]]:
    rows = [values for values in kinds.values()]
    return np.array(rows, dtype=np.float64), list(kinds)


def test_fit_learns_right_from_support_and_whole_from_coverage():
    rng = np.random.default_rng(0)
    table, kinds = [], []
    for kind, (support, coverage) in {
        "complete": (1.0, 1.0),
        "paraphrase": (0.8, 0.8),
        "partial": (0.9, 0.3),
        "wrong": (0.2, 0.2),
    }.items():
        for _ in range(20):
            noise = rng.normal(0, 0.05, size=len(FEATURES))
            base = [support, support, coverage, coverage, coverage, support, 0.0]
            base += [support, coverage, coverage]  # the cosines
            table.append(np.array(base) + noise)
            kinds.append(kind)
    model = grade_fit.fit(np.vstack(table), kinds)
    rated = grade_fit.proposals(model, np.vstack(table), [0.0] * len(kinds))
    by_kind = {kind: {r for k, r in zip(kinds, rated) if k == kind} for kind in set(kinds)}
    assert by_kind == {
        "complete": {"good"},
        "paraphrase": {"good"},
        "partial": {"hard"},
        "wrong": {"again"},
    }
    again = grade_fit.fit(np.vstack(table), kinds)
    assert np.array_equal(again.correct.coef, model.correct.coef)  # deterministic


def test_the_model_file_round_trips_and_refuses_other_columns(tmp_path):
    model = shipped_model()
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model.to_json()), encoding="utf-8")
    loaded = GradeModel.load(path)
    assert np.array_equal(loaded.whole.coef, model.whole.coef)
    record = model.to_json()
    record["features"] = record["features"][:-1]
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(SettingsError, match="columnas"):
        GradeModel.load(path)
    with pytest.raises(SettingsError, match="grade_fit"):
        GradeModel.load(tmp_path / "missing.json")


def test_a_given_model_grades_instead_of_the_shipped_one(cards):
    card = _card(cards, "¿Qué es LoRA?")
    never = shipped_model().to_json()
    never["correct"]["intercept"] = -50.0  # P(right) ~ 0 whatever the answer
    model = GradeModel.load_record(never)
    answer = card.back.replace("LoRA inserta", "inserta")  # not the back verbatim
    assert grade_answer(card, answer, OverlapChecker(), model=model).rating == "again"
    assert grade_answer(card, answer, OverlapChecker()).rating != "again"


def _answers_file(tmp_path, card, back):
    path = tmp_path / "answers.jsonl"
    row = {"card": card.id, "back": back, "kind": "paraphrase", "answer": "una respuesta"}
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_an_answer_written_for_an_older_back_is_refused(cards, tmp_path):
    card = _card(cards, "¿Qué es LoRA?")
    (row,) = grade_fit.written_answers(_answers_file(tmp_path, card, card.back), cards)
    assert row["card"] is card and row["kind"] == "paraphrase"
    with pytest.raises(AssistantError, match="ha cambiado"):
        grade_fit.written_answers(_answers_file(tmp_path, card, card.back[:20]), cards)
    other = [c for c in cards if c.id != card.id]
    with pytest.raises(AssistantError, match="no dan la tarjeta"):
        grade_fit.written_answers(_answers_file(tmp_path, card, card.back), other)


def test_training_refuses_answers_to_held_out_cards(cards, tmp_path, capsys):
    held = grade_fit.heldout_ids()
    card = next(c for c in cards if c.id in held)
    answers = _answers_file(tmp_path, card, card.back)
    out = tmp_path / "model.json"
    code = grade_fit.main(["--notes", str(NOTES), "--answers", str(answers), "--out", str(out)])
    assert code == 1 and "reservadas" in capsys.readouterr().err and not out.exists()


def test_the_cut_bien_needs_is_the_highest_where_accuracy_is_flat():
    kinds = ["paraphrase", "paraphrase", "wrong", "wrong"]
    right = np.array([0.78, 0.76, 0.6, 0.3])
    chosen = grade_fit.choose_good_right(right, right.copy(), kinds)
    accuracy = chosen["balanced_accuracy"]
    assert accuracy[0.5] == 0.75  # one wrong answer told Bien
    assert accuracy[0.65] == accuracy[0.75] == 1.0 and accuracy[0.8] == 0.5
    assert chosen["chosen"] == 0.75


def test_the_shipped_cuts_are_the_ones_its_training_chose():
    from assistant.study.quiz import GradeConfig

    assert GradeConfig().good_right == shipped_model().report["good_right"]["chosen"]


def test_training_never_writes_over_its_answers(tmp_path, capsys):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("{}\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        grade_fit.main(["--answers", str(answers), "--out", str(answers)])
    assert "--out no puede" in capsys.readouterr().err
    assert answers.read_text(encoding="utf-8") == "{}\n"
