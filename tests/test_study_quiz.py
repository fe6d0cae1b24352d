"""The quiz: free-text answers graded with a support checker (the word-overlap fake here),
multiple choice with the nearest backs of the same kind as distractors (the fake embedder's
similarity here; tests/test_study_distractors.py has the rules and e5), sessions of due
cards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from assistant.study import grade_fit, quiz
from assistant.study.cards import build_cards
from assistant.study.deck import Deck
from assistant.study.quiz import (
    GradeConfig,
    QuizError,
    choice_rating,
    grade_answer,
    multiple_choice,
    session,
)
from corpus.errors import SettingsError
from corpus.loader import load_notes
from tests.conftest import NOTES
from tests.fakes import OverlapChecker

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def cards():
    return build_cards(load_notes(NOTES).notes)


def _card(cards, front=None, kind=None, back=None):
    found = [
        c
        for c in cards
        if (front is None or c.front == front)
        and (kind is None or c.kind == kind)
        and (back is None or c.back == back)
    ]
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def grader(cards):
    """The grader fitted, as ``study.grade_fit`` fits it, on the answers built from
    every card but LoRA's, measured with the fake checker (the shipped model's
    measures are the real checker's)."""
    rows = [row for row in grade_fit.built_answers(cards) if row["card"].front != LORA]
    return grade_fit.fit(
        grade_fit.measure_rows(rows, OverlapChecker()), [row["kind"] for row in rows]
    )


LORA = "¿Qué es LoRA?"
GRADES = [
    # (answer, the rating it should get): the whole back, all of it in other words, its
    # first claim alone, a part of that, wrong, nothing
    (
        "LoRA (Low-Rank Adaptation) es una técnica de fine-tuning eficiente para modelos de "
        "lenguaje grandes. En lugar de ajustar todos los parámetros del modelo, LoRA inserta "
        "matrices de bajo rango en las capas de atención y solo ajusta estos componentes "
        "adicionales durante el entrenamiento.",
        "easy",
    ),
    (
        "LoRA es una técnica de fine-tuning eficiente para modelos de lenguaje grandes. "
        "Inserta matrices de bajo rango en las capas de atención y solo ajusta estos "
        "componentes durante el entrenamiento.",
        "good",
    ),
    (
        "LoRA (Low-Rank Adaptation) es una técnica de fine-tuning eficiente para modelos de "
        "lenguaje grandes.",
        "hard",
    ),
    ("LoRA es una técnica de fine-tuning eficiente.", "hard"),
    ("Es una red recurrente que traduce imágenes.", "again"),
    ("", "again"),
]


@pytest.mark.parametrize("answer, rating", GRADES, ids=[r for _, r in GRADES])
def test_a_free_text_answer_gets_a_proposed_rating(cards, grader, answer, rating):
    grade = grade_answer(_card(cards, LORA), answer, OverlapChecker(), model=grader)
    assert grade.rating == rating


def test_scores_order_the_answers(cards, grader):
    card = _card(cards, LORA)
    scores = [
        grade_answer(card, answer, OverlapChecker(), model=grader).score for answer, _ in GRADES
    ]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.9 and scores[-1] == 0.0


def test_half_an_answer_is_hard_but_not_warned_about(cards, grader):
    grade = grade_answer(
        _card(cards, LORA),
        "LoRA es una técnica de fine-tuning eficiente.",
        OverlapChecker(),
        model=grader,
    )
    assert grade.rating == "hard" and grade.supported  # incomplete, not wrong: no ⚠


def test_a_wrong_claim_is_not_supported_even_when_it_covers_the_back(cards, grader):
    card = _card(
        cards,
        kind="list",
        front="¿Cuáles son las desventajas de Teacher Forcing en Modelos de Lenguaje?",
    )
    right = grade_answer(
        card, "Dependencia de la guía y discrepancia de exposición.", OverlapChecker(), model=grader
    )
    # an advantage, not a drawback
    wrong = grade_answer(card, "Eficiencia.", OverlapChecker(), model=grader)
    assert right.rating == "easy" and right.supported
    assert wrong.rating == "again" and not wrong.supported


@pytest.mark.parametrize("answer", ["tokenización", "Tokenizacion", " la tokenización. "])
def test_a_cloze_accepts_its_term_without_accents_or_article(cards, answer):
    card = _card(cards, kind="cloze", back="tokenización")
    assert grade_answer(card, answer, OverlapChecker()).rating == "easy"


@pytest.mark.parametrize(
    "right, whole, overlap, rating",
    [
        (0.0, 0.0, 0.0, "again"),
        (0.49, 0.49, 1.0, "again"),  # a wrong answer, however close to the words
        (0.5, 0.49, 1.0, "hard"),
        (0.79, 0.79, 1.0, "hard"),  # whole, but not right enough to be told Bien
        (0.9, 0.5, 0.94, "good"),  # whole, in other words
        (0.9, 0.5, 0.95, "easy"),  # whole, near verbatim
    ],
)
def test_grade_thresholds(right, whole, overlap, rating):
    assert GradeConfig().rating(right, whole, overlap) == rating


@pytest.mark.parametrize("name", ["again_below", "good_from", "good_right", "easy_from"])
def test_grade_thresholds_must_be_probabilities(name):
    with pytest.raises(SettingsError, match=name):
        GradeConfig(**{name: 1.5})


def test_multiple_choice_draws_the_nearest_backs_of_its_kind(cards, backs):
    card = _card(cards, LORA)
    question = multiple_choice(card, cards, seed=7, backs=backs)
    assert len(question.options) == 4 and question.options[question.answer] == card.back
    others = {c.back: c for c in cards if c.id != card.id}
    wrong = [others[o] for i, o in enumerate(question.options) if i != question.answer]
    assert {(c.kind, c.source) for c in wrong} == {("qa", card.source)}
    candidates = quiz.distractor_candidates(card, cards)
    vectors = backs([card.back, *(c.back for c in candidates)])
    nearest = sorted(zip(vectors[1:] @ vectors[0], (c.back for c in candidates)), reverse=True)
    assert {c.back for c in wrong} == {back for _, back in nearest[:3]}


def test_multiple_choice_is_deterministic_with_a_seed(cards, backs):
    card = _card(cards, kind="cloze", back="tokenización")
    assert multiple_choice(card, cards, seed=1) == multiple_choice(card, cards[::-1], seed=1)
    drawn = {multiple_choice(card, cards, seed=s).options for s in range(6)}
    assert len(drawn) > 1  # the seed orders the options
    assert len({frozenset(options) for options in drawn}) == 1  # it does not pick them


def test_a_cloze_of_a_small_note_gets_options_from_the_others(cards, backs):
    card = next(c for c in cards if c.kind == "cloze" and c.source == "teacher_forcing.md")
    question = multiple_choice(card, cards, seed=0)
    assert len(question.options) == 4  # teacher_forcing.md has 2 cloze cards


def test_multiple_choice_without_any_other_card_of_the_kind_is_an_error(cards):
    card = _card(cards, kind="definition")  # the only definition in the notes
    with pytest.raises(QuizError, match="responde por escrito"):
        multiple_choice(card, cards)  # nothing to embed: no model is loaded


def test_a_session_holds_the_next_due_cards(tmp_path, cards):
    with Deck.open(tmp_path / "deck.sqlite", create=True) as deck:
        deck.sync(cards[:8], now=T0)
        due = session(deck, size=5, now=T0)
        assert [row.card.id for row in due] == [card.id for card in cards[:5]]
        for row in deck.due(now=T0):
            deck.review(row.card.id, "easy", now=T0)
        with pytest.raises(QuizError, match="No hay tarjetas pendientes"):
            session(deck, now=T0 + timedelta(hours=1))


def test_a_pick_proposes_good_when_right_and_again_when_wrong(cards, backs):
    card = _card(cards, front="¿Qué es Transfer Learning?")
    choice = multiple_choice(card, cards)
    assert choice_rating(choice, choice.answer) == "good"
    assert {choice_rating(choice, i) for i in range(4) if i != choice.answer} == {"again"}
    with pytest.raises(SettingsError, match="picked"):
        choice_rating(choice, 4)


def test_the_built_answers_come_in_four_kinds(cards, backs):
    rows = grade_fit.built_answers(cards)
    card = _card(cards, front="¿Qué es Transfer Learning?")
    mine = {row["kind"]: row["answer"] for row in rows if row["card"].id == card.id}
    assert set(mine) == {"complete", "keywords", "partial", "wrong"}
    assert mine["complete"] == card.back and mine["wrong"] != card.back
    assert mine["keywords"].startswith("transfer learning aprendizaje transferencia técnica")
    assert " es " not in f" {mine['keywords']} " and "," not in mine["keywords"]
