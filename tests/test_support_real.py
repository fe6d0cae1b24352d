"""The shipped support scorer on real e5 (slow): one row per kind of unsupported sentence
real models write, the two cases a newcomer ran into, a correct paraphrase, and a partly
supported sentence flagged only where it is unsupported (issue 25)."""

from __future__ import annotations

import pytest

from assistant.support import DEFAULT_SCORER, make_checker, sentence_claims

pytestmark = pytest.mark.slow

TEACHER = """## Ventajas

- **Eficiencia**: Acelera el entrenamiento al guiar al modelo con la respuesta correcta en cada paso.
- **Mejores Modelos**: Puede conducir a la rápida convergencia y al desarrollo de modelos que generalizan mejor en la tarea de predicción.
"""
OBJECTIVE = """## Objetivo del Teacher Forcing

- **Rápida Convergencia**: Ayuda a que el modelo aprenda más rápidamente al proporcionarle siempre la respuesta correcta en el paso siguiente.
- **Reducción del Error Acumulado**: Evita que los errores se propaguen a través de la secuencia durante el entrenamiento.
"""
METRICS = """## 25. ¿Cómo se pueden evaluar los modelos de lenguaje?

1. **Perplexity (Perplejidad):**
   - Mide qué tan bien el modelo predice una secuencia. Valores más bajos son mejores.
2. **BLEU (Bilingual Evaluation Understudy):**
   - Se usa para tareas de traducción automática.
3. **ROUGE (Recall-Oriented Understudy for Gisting Evaluation):**
   - Evalúa la calidad del resumen de texto.
"""
MLM = """## 39. Describí el proceso de *MLM* (Masked Language Modeling).

1. Enmascaramiento:

   - Se selecciona aleatoriamente un 15% de los tokens de la secuencia y se reemplazan por **[MASK]**.

2. Predicción:

   - El modelo predice el token original en las posiciones enmascaradas.
"""
DECODING = """## Decodificación

La decodificación voraz elige en cada paso el token más probable.

La búsqueda en haz mantiene varias secuencias candidatas y se queda con la de mayor probabilidad total.
"""

# Rows the shipped scorer still gets wrong: strict xfails, so that a fix shows up as a pass
# to claim. Issue 25 stays open on them (docs/RESULTS.md).
OPEN = "issue 25, not met with the shipped scorer: "
SUPPORTED = [
    pytest.param(
        TEACHER,
        "Teacher Forcing acelera el entrenamiento al guiar al modelo con la respuesta correcta.",
        marks=pytest.mark.xfail(
            strict=True, reason=OPEN + "the chunk never writes 'Teacher Forcing' (a foreign name)"
        ),
    ),
    (
        TEACHER,
        "Al darle al modelo la respuesta correcta en cada paso, el entrenamiento va más rápido.",
    ),
    (METRICS, "BLEU se usa en traducción automática y ROUGE evalúa resúmenes de texto."),
    (MLM, "Se enmascara al azar un 15% de los tokens y el modelo predice los originales."),
]
UNSUPPORTED = [
    pytest.param(
        TEACHER,
        "Teacher Forcing se usa sobre todo para entrenar RNNs en traducción automática.",
        id="other_paragraph",
    ),
    pytest.param(
        TEACHER,
        "Teacher Forcing acelera la inferencia al guiar al modelo con la respuesta correcta.",
        id="swapped_term",
    ),
    pytest.param(TEACHER, "Teacher Forcing no acelera el entrenamiento del modelo.", id="negation"),
    pytest.param(
        MLM,
        "Se selecciona aleatoriamente un 40% de los tokens y se reemplazan por [MASK].",
        id="changed_number",
    ),
    pytest.param(
        METRICS,
        "ROUGE se usa para traducción automática y BLEU para evaluar resúmenes.",
        id="role_reversal",
        marks=pytest.mark.xfail(strict=True, reason=OPEN + "every word of it is in the passage"),
    ),
    pytest.param(
        TEACHER,
        "Una desventaja del Teacher Forcing es que acelera el entrenamiento.",
        id="opposite_list",
    ),
    pytest.param(
        MLM,
        "El modelo predice el token original en las posiciones enmascaradas, y fue creado por"
        " Google en 2010.",
        id="invented_clause",
    ),
]


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    return make_checker(DEFAULT_SCORER, cache_dir=tmp_path_factory.mktemp("support-real"))


def _score(checker, sentence: str, passage: str) -> float:
    return float(checker.scores([sentence], [passage])[0, 0])


@pytest.mark.parametrize("passage, sentence", SUPPORTED)
def test_a_supported_sentence_or_paraphrase_is_not_flagged(checker, passage, sentence):
    assert checker.supported(_score(checker, sentence, passage))


@pytest.mark.parametrize("passage, sentence", UNSUPPORTED)
def test_each_kind_of_unsupported_sentence_is_flagged(checker, passage, sentence):
    assert not checker.supported(_score(checker, sentence, passage))


def test_a_disadvantage_given_as_an_advantage_is_flagged_in_that_item_only(checker):
    """The newcomer's case: "¿cuáles son sus ventajas?" answered with a disadvantage."""
    sentence = "Rápida convergencia, reducción del error acumulado y discrepancia de exposición."
    claims = sentence_claims(sentence)
    scores = checker.scores([sentence, *claims], [OBJECTIVE])[:, 0]
    cut = checker.claim_threshold
    flagged = [c for c, s in zip(claims, scores[1:]) if cut is not None and s < cut]
    assert flagged == ["discrepancia de exposición."]


@pytest.mark.xfail(strict=True, reason=OPEN + "each half is in the passage, in another unit")
def test_a_garbled_definition_mixing_two_methods_is_flagged(checker):
    """The newcomer's case: greedy decoding given beam search's property."""
    sentence = (
        "La decodificación voraz: el token más probable que busca secuencias con mayor "
        "probabilidad total."
    )
    assert not checker.supported(_score(checker, sentence, DECODING))


def test_a_partly_supported_sentence_is_flagged_only_in_its_invented_claim(checker):
    assert checker.claim_threshold is not None, f"{DEFAULT_SCORER!r} reads no claims"
    sentence = "El modelo predice el token original, y además lo inventaron en Marte en 1850."
    scores = checker.scores(sentence_claims(sentence), [MLM])[:, 0]
    assert [s >= checker.claim_threshold for s in scores] == [True, False]


@pytest.mark.parametrize("name", ["learned", "cross"])
def test_each_shipped_candidate_scores_a_unit_above_its_negation(name, tmp_path):
    candidate = make_checker(name, cache_dir=tmp_path)
    verbatim = "Acelera el entrenamiento al guiar al modelo con la respuesta correcta en cada paso."
    negated = "No " + verbatim[0].lower() + verbatim[1:]
    scores = candidate.scores([verbatim, negated], [TEACHER])[:, 0]
    assert candidate.supported(scores[0]) and scores[0] > scores[1]
