"""Cards from the notes: what each kind extracts from the default notes, and the properties
every card keeps (exact span, stable id, readable back, a list answer's every item)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from assistant.study.cards import CARD_KINDS, Card, CardConfig, build_cards, card_id, note_cards
from assistant.study.deck import Deck
from assistant.study.rules import cut_back, definition_of, list_question, question_of
from assistant.study.sections import answer_list
from corpus.chunking import chunk_notes
from corpus.errors import SettingsError
from corpus.loader import load_notes
from corpus.markdown import find_sections, read_blocks
from corpus.records import Note, content_hash
from corpus.text import normalize
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


def test_qa_backs_are_cut_at_a_readable_length(cards, notes):
    config = CardConfig()
    for card in cards:
        if card.kind == "qa":
            limit = config.max_list_back_chars if _list(card, notes) else config.max_back_chars
            assert 0 < len(card.back) <= limit, card.front
            assert not card.back.endswith(":"), card.front  # no dangling "Ejemplo:"


def _list(card, notes):
    """The list the card's section answers with (``answer_list``), or None."""
    note = notes[card.source]
    (section,) = [s for s in find_sections(note.text) if s.start == card.start]
    return answer_list(read_blocks(note.text, section))


EMBEDDINGS = "¿Por qué son importantes los embeddings?"


def test_a_list_answer_keeps_every_item(cards):
    # Issue 28: the back showed "1. Representación densa:" and its sub-item, 1 item of 4.
    card = _find(cards, "qa", QA_NOTE, EMBEDDINGS)
    assert card.back == (
        "1. Representación densa: Transforman palabras en vectores de dimensión fija, "
        "permitiendo a las máquinas trabajar con datos de lenguaje natural de…\n"
        "2. Captura de semántica: Los embeddings pueden capturar el significado de palabras "
        "y sus relaciones.\n"
        "3. Generalización: Mejoran el rendimiento de modelos al permitir que aprendan "
        "patrones semánticos complejos.\n"
        "4. Reutilización: Se pueden reutilizar embeddings preentrenados (como Word2Vec o "
        "GloVe) para acelerar el entrenamiento en tareas específicas."
    )


def test_no_back_shows_a_list_in_part(cards, notes):
    """Every question whose answer has a list: its back shows every top-level item of it,
    or none (an answer that opens with prose: "¿Qué es LoRA?" and its "Ventajas de LoRA:")."""
    checked = 0
    for card in cards:
        listed = _list(card, notes) if card.kind == "qa" else None
        if listed is None:
            continue
        shown = sum(normalize(item.label) in normalize(card.back) for item in listed.items)
        assert shown in (0, len(listed.items)), (card.front, shown, len(listed.items))
        checked += shown > 0
    assert checked >= 45  # the default notes' list answers (docs/results/distractors.json)


def test_a_changed_back_keeps_the_card_its_id_and_its_reviews(cards, tmp_path):
    """A qa card's id hashes its whole section, not its back: the deck's sync rewrites the
    back of a card built by the rule before issue 28, and its reviews stay."""
    card = _find(cards, "qa", QA_NOTE, EMBEDDINGS)
    before = replace(card, back=card.back.splitlines()[0])  # as the old rule showed it
    t0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    with Deck.open(tmp_path / "deck.sqlite", create=True) as deck:
        deck.sync([before], now=t0)
        deck.review(card.id, "good", now=t0)
        report = deck.sync([card], now=t0)
        assert (report.updated, report.new, report.retired) == (1, 0, 0)
        row = deck.get(card.id)
        assert row.card.back == card.back and row.state.state != "new"
        assert [r.rating for r in deck.reviews(card.id)] == ["good"]


def _note(body: str) -> Note:
    return Note("n.md", f"# Tema\n\n## 1. ¿Pregunta?\n\n{body}\n", content_hash(body))


LONG = "una frase larga que explica el punto con bastante detalle y algo de contexto"
# (what the section says, its qa card's back); max_back_chars 120, list 240, items >= 40
LIST_BACKS = [
    (  # the whole answer fits: as cut_back shows it
        "- Uno: a.\n- Dos: b.",
        "- Uno: a.\n- Dos: b.",
    ),
    (  # a list with sub-items that fits the list limit: in full, after its lead-in
        f"Surgen debido a:\n\n1. Escala:\n   - {LONG}.\n2. Datos:\n   - corto.",
        f"Surgen debido a:\n1. Escala:\n  - {LONG}.\n2. Datos:\n  - corto.",
    ),
    (  # too long in full: one line per item, a label's first nested sentence after it
        "\n".join(f"{n}. Punto {n}:\n   - {LONG} {n}. Y otra frase." for n in range(1, 5)),
        "\n".join(
            f"{n}. Punto {n}: una frase larga que explica el punto con…" for n in range(1, 5)
        ),
    ),
    (  # a numbered list goes on after a code example between its items
        f"1. Uno:\n   - {LONG}.\n\nEjemplo en código:\n\n```python\nx = 1\n```\n\n"
        f"2. Dos:\n   - {LONG}.",
        f"1. Uno:\n  - {LONG}.\n2. Dos:\n  - {LONG}.",
    ),
    (  # prose first, then a list of its own ("Ventajas de X:"): the prose alone
        f"X es una técnica. {LONG}.\n\nVentajas de X:\n\n- **Menor memoria:** {LONG}.\n"
        f"- **Eficiencia:** {LONG}.",
        f"X es una técnica. {LONG}.",
    ),
    (  # an example's list is not the answer
        f"X es una técnica. {LONG}.\n\nEjemplos:\n\n- {LONG}.\n- {LONG}.",
        f"X es una técnica. {LONG}.",
    ),
]


@pytest.mark.parametrize("body, back", LIST_BACKS)
def test_list_backs(body, back):
    config = CardConfig(max_back_chars=120, max_list_back_chars=240)
    (card,) = [c for c in note_cards(_note(body), [], config) if c.kind == "qa"]
    assert card.back == back


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
    with pytest.raises(SettingsError, match="max_list_back_chars"):
        CardConfig(max_list_back_chars=100)
    with pytest.raises(SettingsError, match="min_item_chars"):
        CardConfig(min_item_chars=5)
    with pytest.raises(SettingsError, match="kind"):
        Card("x", "poem", "f", "b", "n.md", "", "", 0, 1)
    with pytest.raises(SettingsError, match="start"):
        Card("x", "qa", "f", "b", "n.md", "", "", 5, 5)


def test_a_question_that_asks_for_the_list_gets_every_item(cards):
    asked = _find(
        cards, "qa", QA_NOTE, "¿Qué es el mecanismo de atención? ¿Cuáles son sus ventajas?"
    )
    assert "Ventajas:" in asked.back
    assert all(item in asked.back for item in ("Paralelización", "largo plazo", "Flexibilidad"))
    # The label only shares the topic: "¿Qué es LoRA?" is answered by the definition.
    lora = _find(cards, "qa", QA_NOTE, "¿Qué es LoRA?")
    assert "Ventajas de LoRA" not in lora.back and lora.back.startswith("LoRA (Low-Rank")
