"""Cards from the notes: what each kind extracts from the default notes, and the properties
every card keeps (exact span, stable id, readable back)."""

from __future__ import annotations

import pytest

from assistant.study.cards import CARD_KINDS, Card, CardConfig, build_cards, card_id
from assistant.study.rules import cut_back, definition_of, list_question, question_of
from corpus.chunking import chunk_notes
from corpus.errors import SettingsError
from corpus.loader import load_notes
from corpus.records import Note
from tests.conftest import NOTES

QA_NOTE, PROSE_NOTE = "preguntas_nlp_llm.md", "teacher_forcing.md"


@pytest.fixture(scope="module")
def notes() -> dict[str, Note]:
    return {note.source: note for note in load_notes(NOTES).notes}


@pytest.fixture(scope="module")
def cards(notes) -> list[Card]:
    return build_cards(notes.values())


def _find(cards, kind, source, front) -> Card:
    found = [c for c in cards if (c.kind, c.source, c.front) == (kind, source, front)]
    assert len(found) == 1, f"{len(found)} {kind} cards with front {front!r} in {source}"
    return found[0]


# (kind, note, front, back, what the card's span in the note starts with, heading)
CASES = [
    (
        "qa",
        QA_NOTE,
        "¿Qué es Transfer Learning?",
        "Transfer Learning (Aprendizaje por Transferencia) es una técnica donde un modelo "
        "preentrenado en una tarea se reutiliza para una nueva tarea relacionada. La idea es "
        "que el conocimiento aprendido en la primera tarea sea útil para acelerar y mejorar el "
        "aprendizaje en la segunda tarea.",
        "## 1. ¿Qué es *Transfer Learning*?",
        "Preguntas y respuestas sobre NLP y LLMs > 1. ¿Qué es Transfer Learning?",
    ),
    (
        "qa",
        QA_NOTE,
        "¿Qué es LoRA?",
        "LoRA (Low-Rank Adaptation) es una técnica de fine-tuning eficiente para modelos de "
        "lenguaje grandes. En lugar de ajustar todos los parámetros del modelo, LoRA inserta "
        "matrices de bajo rango en las capas de atención y solo ajusta estos componentes "
        "adicionales durante el entrenamiento.",
        "## 50. ¿Qué es LoRA?",
        "Preguntas y respuestas sobre NLP y LLMs > 50. ¿Qué es LoRA?",
    ),
    (
        "definition",
        PROSE_NOTE,
        "¿Qué es Teacher Forcing?",
        "Teacher Forcing es una técnica utilizada durante el entrenamiento de modelos de "
        "lenguaje secuenciales, especialmente en redes neuronales recurrentes (RNN).",
        "Teacher Forcing es una técnica utilizada",
        "Teacher Forcing en Modelos de Lenguaje",
    ),
    (
        "list",
        PROSE_NOTE,
        "¿Cuáles son las desventajas de Teacher Forcing en Modelos de Lenguaje?",
        "- Dependencia de la Guía\n- Discrepancia de Exposición",
        "## Desventajas",
        "Teacher Forcing en Modelos de Lenguaje > Desventajas",
    ),
    (
        "list",
        PROSE_NOTE,
        "¿Cuáles son las ventajas de Teacher Forcing en Modelos de Lenguaje?",
        "- Eficiencia\n- Mejores Modelos",
        "## Ventajas",
        "Teacher Forcing en Modelos de Lenguaje > Ventajas",
    ),
    (
        "cloze",
        QA_NOTE,
        "La [...] es el proceso de dividir un texto en unidades más pequeñas llamadas tokens.",
        "tokenización",
        "La **tokenización** es el proceso",
        "Preguntas y respuestas sobre NLP y LLMs > 24. ¿Qué es la tokenización?",
    ),
]


@pytest.mark.parametrize(
    "kind, source, front, back, span_start, heading", CASES, ids=[c[2][:40] for c in CASES]
)
def test_a_known_card_is_extracted(cards, notes, kind, source, front, back, span_start, heading):
    card = _find(cards, kind, source, front)
    assert card.back == back
    assert card.heading == heading
    assert notes[source].text[card.start : card.end].startswith(span_start)


def test_every_kind_is_found_in_the_default_notes(cards):
    assert {c.kind for c in cards} == set(CARD_KINDS)
    assert sum(c.kind == "qa" for c in cards) == 83  # one per "## N. ..." heading


def test_a_qa_card_keeps_the_whole_section_as_full_back(cards):
    card = _find(cards, "qa", QA_NOTE, "¿Qué es LoRA?")
    assert "- Menor uso de memoria: Se ajusta un número reducido de parámetros." in card.full_back
    assert "Ventajas de LoRA:" in card.full_back and "Ventajas de LoRA" not in card.back


def test_a_list_card_has_every_item_in_full(cards):
    card = _find(
        cards,
        "list",
        PROSE_NOTE,
        "¿Cuáles son las desventajas de Teacher Forcing en Modelos de Lenguaje?",
    )
    assert card.full_back.splitlines()[0].startswith("- Dependencia de la Guía: Puede resultar")
    assert len(card.full_back.splitlines()) == 2


def test_a_cloze_has_its_sentence_as_context(cards):
    card = _find(
        cards,
        "cloze",
        QA_NOTE,
        "La [...] es el proceso de dividir un texto en unidades más pequeñas llamadas tokens.",
    )
    assert card.full_back.replace(card.back, "[...]", 1) == card.front


def test_examples_give_no_cloze(cards):
    # "En la oración **El gato persigue al ratón**, al procesar **persigue**..." is an example.
    assert not [c for c in cards if c.kind == "cloze" and c.back in ("persigue", "gato", "ratón")]


def test_prose_notes_have_no_qa_cards(cards):
    assert not [c for c in cards if c.kind == "qa" and c.source == PROSE_NOTE]


def test_every_card_points_at_its_exact_span_and_chunk(cards, notes):
    chunks = {chunk.id: chunk for chunk in chunk_notes(list(notes.values()))}
    for card in cards:
        span = notes[card.source].text[card.start : card.end]
        term = card.back if card.kind == "cloze" else ""
        assert card.id == card_id(card.kind, span, term), card
        chunk = chunks[card.chunk_id]
        assert chunk.source == card.source and chunk.start <= card.start < chunk.end


def test_ids_are_unique_and_the_build_is_deterministic(cards, notes):
    assert len({c.id for c in cards}) == len(cards)
    assert build_cards(notes.values()) == cards


def test_qa_backs_are_cut_at_a_readable_length(cards):
    for card in cards:
        if card.kind == "qa":
            assert 0 < len(card.back) <= CardConfig().max_back_chars, card.front
            assert not card.back.endswith(":"), card.front  # no dangling "Ejemplo:"


def test_a_shorter_limit_cuts_at_a_sentence_boundary(notes):
    cards = build_cards(notes.values(), CardConfig(max_back_chars=200))
    card = _find(cards, "qa", QA_NOTE, "¿Qué es Transfer Learning?")
    assert card.back == (
        "Transfer Learning (Aprendizaje por Transferencia) es una técnica donde un modelo "
        "preentrenado en una tarea se reutiliza para una nueva tarea relacionada."
    )


@pytest.mark.parametrize(
    "units, limit, expected",
    [
        (["\nUna frase.", " Otra frase."], 100, "Una frase. Otra frase."),
        (["\nUna frase.", " Otra frase."], 12, "Una frase."),
        (["\nIntro.", "\nEjemplo:", "\n- item largo largo largo"], 20, "Intro."),
        (["\nuna frase muy larga sin punto que no cabe"], 20, "una frase muy larga…"),
        (["\nuna frase muy larga sin punto"], 18, "una frase muy…"),
        (["\nLas maneras:", "\n- una forma de hacerlo bien larga"], 20, "Las maneras:\n- una…"),
    ],
)
def test_cut_back(units, limit, expected):
    assert cut_back(units, limit) == expected


@pytest.mark.parametrize(
    "sentence, front",
    [
        ("Un embedding es una representación vectorial densa.", "¿Qué es un embedding?"),
        ("Los adapters son los módulos que se insertan.", "¿Qué son los adapters?"),
        ("Los adapters son pequeños.", None),  # known limit: "son" needs an article too
        ("El fine-tuning consiste en ajustar un modelo.", "¿Qué es el fine-tuning?"),
        ("Se denomina tokenización al proceso de cortar texto.", "¿Qué es tokenización?"),
        ("LoRA (Low-Rank Adaptation) es una técnica eficiente.", "¿Qué es LoRA?"),
        ("Esta estrategia es una forma de entrenar.", None),  # points back, defines nothing
        ("La idea es que el modelo aprenda.", None),  # "es que": not "es un/una/el..."
        ("Teacher Forcing es importante.", None),
    ],
)
def test_definition_patterns(sentence, front):
    found = definition_of(sentence)
    assert (found.front if found else None) == front


@pytest.mark.parametrize(
    "title, parent, question",
    [
        ("Ventajas", "Teacher Forcing", "¿Cuáles son las ventajas de Teacher Forcing?"),
        ("Desventajas", "El encoder", "¿Cuáles son las desventajas del encoder?"),
        ("Tipos de atención", "Transformers", "¿Cuáles son los tipos de atención?"),
        ("Objetivo del Teacher Forcing", "X", "¿Cuál es el objetivo del Teacher Forcing?"),
        ("Cómo Funciona el Teacher Forcing", "X", "¿Cómo Funciona el Teacher Forcing?"),
        ("Historia", "X", None),
        ("Ventajas", "", None),  # no parent to name
    ],
)
def test_list_questions(title, parent, question):
    assert list_question(title, parent) == question


@pytest.mark.parametrize(
    "title, question",
    [
        ("12. ¿Qué es *Self-Attention*?", "¿Qué es Self-Attention?"),
        ("38. Describí el *input* de BERT.", "Describí el input de BERT."),
        ("Ventajas", None),
    ],
)
def test_question_headings(title, question):
    assert question_of(title) == question


def test_config_and_card_validation_name_the_field():
    with pytest.raises(SettingsError, match="max_back_chars"):
        CardConfig(max_back_chars=10)
    with pytest.raises(SettingsError, match="kind"):
        Card("x", "poem", "f", "b", "n.md", "", "", 0, 1)
    with pytest.raises(SettingsError, match="start"):
        Card("x", "qa", "f", "b", "n.md", "", "", 5, 5)
