"""Citation repair: each sentence's citations checked against the support of each passage."""

import numpy as np
import pytest

from assistant.grounding import ground, rewrite


def supported(score: float) -> bool:
    return score >= 0.75


# (sentence, its support by passages [1, 2, 3], expected citations, expected supported,
#  expected moved_from, expected added_citation)
CASES = [
    ("LoRA entrena matrices de bajo rango [2].", [0.9, 0.2, 0.1], [1], True, [2], False),
    ("LoRA entrena matrices de bajo rango [1].", [0.9, 0.2, 0.1], [1], True, [], False),
    ("Cita dos, una sobra [1][3].", [0.9, 0.2, 0.1], [1], True, [3], False),
    ("Nadie lo respalda [2].", [0.3, 0.4, 0.1], [2], False, [], False),
    ("Sin cita pero respaldada.", [0.1, 0.2, 0.95], [3], True, [], True),
    ("Sin cita y sin respaldo.", [0.1, 0.2, 0.3], [], False, [], False),
    ("Número inexistente [9].", [0.1, 0.8, 0.3], [2], True, [], True),
]


@pytest.mark.parametrize("sentence,row,cited,ok,moved,added", CASES)
def test_each_sentence_cites_the_passage_that_supports_it(sentence, row, cited, ok, moved, added):
    (check,), (new,) = ground([sentence], np.array([row]), supported)
    assert check.cited == cited
    assert check.supported is ok
    assert check.moved_from == moved
    assert check.added_citation is added
    # Supported is measured only against what the sentence cites.
    assert check.support == pytest.approx(max((row[n - 1] for n in cited), default=0.0), abs=1e-4)
    assert [int(m) for m in __import__("re").findall(r"\[(\d+)\]", new)] == cited


def test_a_sentence_is_not_labelled_supported_by_a_passage_it_does_not_cite():
    # The old rule took support over all passages: passage 3 supports, but the sentence
    # cites 1 and 2 and neither does -> moved to 3, and labelled by 3 alone.
    (check,), _ = ground(["Frase [1][2]."], np.array([[0.2, 0.3, 0.9]]), supported)
    assert check.cited == [3] and check.moved_from == [1, 2] and check.support == pytest.approx(0.9)


def test_rewrite_keeps_the_layout_of_the_answer():
    text = "Ventajas:\n- Menos memoria [2].\n- Más rápido [1]."
    originals = ["Ventajas:", "- Menos memoria [2].", "- Más rápido [1]."]
    rewritten = ["Ventajas:", "- Menos memoria [1].", "- Más rápido [1]."]
    assert (
        rewrite(text, originals, rewritten) == "Ventajas:\n- Menos memoria [1].\n- Más rápido [1]."
    )


@pytest.mark.parametrize(
    "sentence,question,claim",
    [
        ("Francia", "¿En qué país está Normandía?", "¿En qué país está Normandía? Francia"),
        (
            "BART y T5.",
            "¿Qué modelos usan encoder-decoder?",
            "¿Qué modelos usan encoder-decoder? BART y T5.",
        ),
        (
            "El teacher forcing usa la palabra correcta como entrada siguiente.",
            "¿Qué es?",
            "El teacher forcing usa la palabra correcta como entrada siguiente.",
        ),
    ],
)
def test_a_bare_answer_is_checked_as_the_claim_it_makes_with_its_question(
    sentence, question, claim
):
    from assistant.grounding import claim_text

    assert claim_text(sentence, question) == claim


def test_a_bare_span_is_supported_by_the_passage_that_answers_the_question():
    from assistant.grounding import claim_text
    from tests.fakes import OverlapChecker

    question = "¿En qué país se encuentra Normandía?"
    answers = "Normandía es una región de Francia."
    mentions = "Francia exporta vino y queso."
    scores = OverlapChecker().scores([claim_text("Francia", question)], [mentions, answers])
    (check,), _ = ground(["Francia [1]"], scores, OverlapChecker().supported)
    assert check.cited == [2] and check.moved_from == [1]
