"""Multiple-choice distractors (issue 28): the nearest backs of the card's kind, from other
sections, never another right answer; each back embedded once; the options drawn as
Markdown. Hand-made cards with a scripted embedder for the rules, the default notes with
the fake embedder for the properties, e5 itself for one known card (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.study.cards import Card, build_cards
from assistant.study.quiz import (
    SAME_ANSWER,
    BackVectors,
    MultipleChoice,
    compared_text,
    distractor_candidates,
    multiple_choice,
    nearest_distractors,
    questions,
)
from assistant.web.card_html import choice_html, option_keys, options_html
from corpus.loader import load_notes
from index import embedders
from tests.conftest import NOTES


@pytest.fixture(scope="module")
def notes_cards() -> list[Card]:
    return build_cards(load_notes(NOTES).notes)


def card(front: str, back: str, heading: str = "", kind: str = "qa", source: str = "n.md"):
    return Card(
        id=f"{kind}:{heading or front}:{back}"[:60],
        kind=kind,  # type: ignore[arg-type]
        front=front,
        back=back,
        source=source,
        heading=heading or front,
        chunk_id="",
        start=0,
        end=1,
    )


class ScriptedEmbedder:
    """Each text's vector given by hand (unit vectors in 3-D); counts what it embeds."""

    name = "scripted"
    dim = 3

    def __init__(self, vectors: dict[str, tuple[float, ...]]) -> None:
        self.vectors, self.embedded = vectors, 0

    def embed_passages(self, texts):
        self.embedded += len(texts)
        rows = np.array([self.vectors[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def scripted(monkeypatch, tmp_path, vectors) -> tuple[ScriptedEmbedder, BackVectors]:
    fake = ScriptedEmbedder(vectors)
    monkeypatch.setitem(embedders.EMBEDDERS, fake.name, lambda: fake)
    monkeypatch.setitem(embedders._loaded, fake.name, fake)
    return fake, BackVectors(fake.name, tmp_path)


def at(cosine: float) -> tuple[float, float, float]:
    """A unit vector at ``cosine`` from (1, 0, 0)."""
    return (cosine, float(np.sqrt(1 - cosine**2)), 0.0)


ASKED = card("¿Qué es pre-training?", "El pre-training es la fase inicial.")
# (why, a candidate for ASKED, kept?)
CANDIDATES = [
    ("another question of its kind", card("¿Qué es LoRA?", "LoRA ajusta matrices."), True),
    ("another kind", card("¿Qué es LoRA?", "LoRA", kind="cloze"), False),
    ("its own section", card("Otra", "Otra respuesta.", heading=ASKED.heading), False),
    ("the same back", card("¿Qué es PT?", "el pre-training es la fase inicial."), False),
    (
        "one of its questions again",
        card("¿Qué es el *pre-training*? ¿Qué relación tiene con TL?", "Es entrenar antes."),
        False,
    ),
    ("a narrower answer", card("¿Qué es X?", "El pre-training es la fase inicial. Y más."), False),
]


@pytest.mark.parametrize("why, other, kept", CANDIDATES, ids=[c[0] for c in CANDIDATES])
def test_a_candidate_is_another_answer_of_its_kind(why, other, kept):
    assert (other in distractor_candidates(ASKED, [ASKED, other])) == kept


def test_a_cloze_never_offers_what_its_front_says_or_a_broader_term():
    blank = card("Un [...] es un sistema de la arquitectura Transformer.", "modelo de lenguaje")
    blank = Card(**{**blank.to_dict(), "kind": "cloze"})
    pool = [
        card("El [...] mira la izquierda.", term, kind="cloze", heading=term)
        for term in ("Transformer", "modelo de lenguaje unidireccional", "lenguaje", "encoder")
    ]
    assert [c.back for c in distractor_candidates(blank, pool)] == ["encoder"]


def test_questions_fold_case_accents_articles_and_markup():
    assert questions("¿Qué es el *pre-training*? ¿Qué relación tiene?") == {
        "que es pre-training",
        "que relacion tiene",
    }
    assert questions("Explicá la destilación.") == {"explica destilacion"}


def test_the_nearest_backs_are_chosen_one_per_question_below_same_answer(monkeypatch, tmp_path):
    right = card("¿Qué es A?", "a")
    pool = [
        right,
        card("¿Qué es B?", "b"),  # 0.99: says the same as "a" in other words
        card("¿Qué es C?", "c"),
        card("¿Qué es C?", "c2", heading="C otra vez"),  # the same question as "c", farther
        card("¿Qué es D?", "d"),
        card("¿Qué es E?", "e"),
        card("¿Qué es F?", "f"),
    ]
    cosines = {"a": 1.0, "b": 0.99, "c": 0.9, "c2": 0.89, "d": 0.8, "e": 0.7, "f": 0.1}
    _, backs = scripted(monkeypatch, tmp_path, {t: at(x) for t, x in cosines.items()})
    chosen = nearest_distractors(right, pool, backs, count=3)
    assert [(c.back, round(x, 2)) for c, x in chosen] == [("c", 0.9), ("d", 0.8), ("e", 0.7)]
    assert SAME_ANSWER <= 0.99
    question = multiple_choice(right, pool, backs=backs)
    assert sorted(question.options) == ["a", "c", "d", "e"]


def test_a_cloze_term_is_compared_in_its_sentence(monkeypatch, tmp_path):
    """e5 finds bare terms alike by their letters ("modelo grande", "modelo n-gram"), their
    sentences by their subject: a cloze's distractors are the terms whose sentences are
    nearest, and a term that says the same as the answer stays out by the terms alone."""
    terms = ["alfa", "beta", "gamma", "delta", "épsilon", "zeta", "eta"]
    clozes = [
        card(f"El [...] cumple la función {i}.", term, kind="cloze") for i, term in enumerate(terms)
    ]
    right = clozes[0]
    assert compared_text(right) == "El alfa cumple la función 0."
    assert compared_text(card("¿Qué es alfa?", "Una letra.")) == "Una letra."
    # (term, cosine of the bare term to "alfa", of its sentence to alfa's sentence)
    cosines = [(1.0, 1.0), (0.9, 0.1), (0.8, 0.2), (0.7, 0.3), (0.2, 0.9), (0.1, 0.8), (0.99, 0.95)]
    vectors = {}
    for other, (term, sentence) in zip(clozes, cosines):
        vectors[other.back], vectors[compared_text(other)] = at(term), at(sentence)
    _, backs = scripted(monkeypatch, tmp_path, vectors)
    by_sentence = [c.back for c, _ in nearest_distractors(right, clozes, backs)]
    assert by_sentence == ["épsilon", "zeta", "delta"]  # not "eta": the same answer
    bare = nearest_distractors(right, clozes, backs, text=lambda c: c.back)
    assert [c.back for c, _ in bare] == ["beta", "gamma", "delta"]


def test_each_back_is_embedded_once_and_kept_on_disk(monkeypatch, tmp_path):
    fake, backs = scripted(monkeypatch, tmp_path, {"a": at(1.0), "b": at(0.5)})
    backs(["a", "b"])
    backs(["b", "a", "a"])
    assert fake.embedded == 2
    again = BackVectors(fake.name, tmp_path)  # a new process: the disk cache
    assert np.allclose(again(["a"]), backs(["a"])) and fake.embedded == 2


def test_every_card_of_the_notes_gets_other_answers_of_its_kind(
    notes_cards, fake_embedder, tmp_path
):
    backs = BackVectors(fake_embedder.name, tmp_path)
    offered = 0
    for right in notes_cards:
        if right.kind == "definition":
            continue  # the only one of its kind
        choice = multiple_choice(right, notes_cards, backs=backs)
        assert len(choice.options) == 4, right.front
        for i, option in enumerate(choice.options):
            if i == choice.answer:
                continue
            # A back may be on cards of two sections ("Self-Attention"): one of another.
            others = [c for c in notes_cards if c.back == option and c.kind == right.kind]
            other = next(c for c in others if c.heading != right.heading)
            assert not questions(other.front) & questions(right.front)
        offered += 1
    assert offered == len(notes_cards) - 1


# -- the options on screen ---------------------------------------------------------------

LIST_BACK = "1. Representación densa:\n  - Vectores de dimensión fija.\n2. Captura de semántica."


def test_options_are_drawn_as_markdown_and_named_by_letter():
    choice = MultipleChoice("id", "¿Por qué?", (LIST_BACK, "<script>x</script> $d_k$", "c"), 0)
    shown = options_html(choice)
    assert shown.count('class="study-option"') == 3 and option_keys(3) == ["A", "B", "C"]
    assert "<ol>" in shown and "<li>Representación densa:" in shown
    assert "<ul>\n<li>Vectores de dimensión fija.</li>" in shown  # nested under item 1
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert '<span class="math inline">' in shown  # the page's KaTeX typesets it
    assert "✓" not in shown


def test_a_checked_pick_marks_the_right_option_and_names_the_letters():
    choice = MultipleChoice("id", "¿Por qué?", ("a", "b", "c", "d"), 2)
    assert ">C ✓<" in options_html(choice, picked=0) and ">A ✗<" in options_html(choice, 0)
    assert "Elegiste la A; la correcta es la C" in choice_html(choice, 0)
    assert "✓ Correcto" in choice_html(choice, 2)


# -- e5 ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_e5_offers_embeddings_answers_for_an_embeddings_question(notes_cards, tmp_path):
    """Issue 28's card: its options were Reward Model, attention and AutoDistil answers."""
    right = next(c for c in notes_cards if c.front == "¿Por qué son importantes los embeddings?")
    chosen = nearest_distractors(right, notes_cards, BackVectors("e5-small", tmp_path))
    fronts = [other.front for other, _ in chosen]
    assert len(fronts) == 3
    assert sum("embedding" in f or "word2vec" in f for f in fronts) >= 2, fronts
    assert not any(w in f for f in fronts for w in ("Reward", "atención", "AutoDistil")), fronts


@pytest.mark.slow
def test_e5_offers_distillation_terms_for_a_distillation_cloze(notes_cards, tmp_path):
    """Compared bare, "modelo grande" drew "modelo de lenguaje", "modelo n-gram" and
    "modelo de lenguaje generativo": other notes' names that only look alike."""
    right = next(c for c in notes_cards if c.kind == "cloze" and c.back == "modelo grande")
    chosen = nearest_distractors(right, notes_cards, BackVectors("e5-small", tmp_path))
    numbers = [int(other.heading.split(" > ")[-1].split(".")[0]) for other, _ in chosen]
    assert len(chosen) == 3 and all(73 <= n <= 83 for n in numbers), chosen  # destilación
    assert not any(other.back.startswith("modelo de lenguaje") for other, _ in chosen)
