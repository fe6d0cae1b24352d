"""The evidence selector: its contract, the shipped ranker file, list questions and the
notes' structure, the evidence chosen and quoted, and the evidence shown under an answer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.selection import (
    FEATURES,
    BlendedSelector,
    LearnedRanker,
    QuoterSelector,
    RankedUnit,
    RankerModel,
    Selection,
    candidates,
)
from assistant.selection.evidence import EvidenceConfig, choose_evidence, quote_evidence
from assistant.selection.lists import asked_lists, prefer_named, sibling_hits
from assistant.selection.ranker import QUESTION_FEATURES, Linear
from assistant.web.answer_html import answer_html, evidence_text
from corpus.errors import SettingsError
from corpus.records import Chunk, Hit
from index.store import NotesIndex, build_index
from tests.fakes import HashEmbedder, OverlapChecker, OverlapSelector, ScriptedGenerator


@pytest.fixture
def index(notes_copy, tmp_path, fake_embedder, fake_config) -> NotesIndex:
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    return NotesIndex.load(tmp_path / "index")


def fake_model(seed: int = 0) -> RankerModel:
    """A ranker with seeded random weights: the contract holds whatever was learned."""
    rng = np.random.default_rng(seed)

    def linear(width: int) -> Linear:
        return Linear(np.zeros(width), np.ones(width), rng.normal(size=width), 0.1)

    return RankerModel(linear(len(FEATURES)), linear(len(QUESTION_FEATURES)), {})


def selectors():
    vectors = HashEmbedder().embed_passages
    return [
        LearnedRanker(vectors, fake_model()),
        QuoterSelector(vectors),
        BlendedSelector(vectors, fake_model()),
        OverlapSelector(),
    ]


QUESTIONS = ["¿Qué es Teacher Forcing?", "¿Qué ventajas tiene LoRA?", "What is attention?"]


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("selector", selectors(), ids=lambda s: s.name)
def test_the_selector_contract(index, selector, question):
    hits = index.search(question, k=3)
    vector = index.query_vector(question)
    selection = selector.select(question, hits, vector)
    # Every unit of the passages, once, best first, scores and no-answer in [0, 1].
    expected = {(u.n, u.index) for u in candidates(hits)}
    assert [(u.n, u.index) for u in selection.units] != [] and len(selection.units) == len(expected)
    assert {(u.n, u.index) for u in selection.units} == expected
    scores = [u.score for u in selection.units]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.1 for s in scores) and 0.0 <= selection.no_answer <= 1.0
    # Ties keep the passages' order.
    for a, b in zip(selection.units, selection.units[1:]):
        if a.score == b.score:
            assert (a.n, a.index) < (b.n, b.index)
    # Deterministic.
    assert selector.select(question, hits, vector) == selection


@pytest.mark.parametrize("selector", selectors(), ids=lambda s: s.name)
def test_no_passages_means_no_units_and_certain_no_answer(selector):
    selection = selector.select("¿Qué es LoRA?", [], np.zeros(HashEmbedder.dim))
    assert selection.units == [] and selection.no_answer == 1.0 and selection.top is None


def test_the_shipped_ranker_loads_and_says_how_it_was_trained():
    model = RankerModel.load()
    assert model.unit.coef.shape == (len(FEATURES),)
    assert model.no_answer.coef.shape == (len(QUESTION_FEATURES),)
    # Never trained on a held-out row.
    assert "eval/data/notes_heldout.jsonl" in model.config["data"]["held_out_excluded"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(features=r["features"][:-1]), "columnas"),
        (lambda r: r["unit"].update(coef=r["unit"]["coef"][:-1]), "columnas"),
        (lambda r: r["unit"].update(scale=[0.0] * len(r["unit"]["scale"])), "scale"),
        (lambda r: r.pop("no_answer"), "no es válido"),
    ],
)
def test_a_damaged_ranker_file_is_a_clear_error(tmp_path, edit, message):
    record = RankerModel.load().to_json()
    edit(record)
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        RankerModel.load(path)


# -- list questions and the notes' structure -------------------------------------------------


@pytest.mark.parametrize(
    "question, forms",
    [
        ("¿Qué ventajas tiene LoRA?", ["advantages"]),
        ("What are the drawbacks of teacher forcing?", ["drawbacks"]),
        ("¿Qué tipos de embeddings hay?", ["kinds"]),
        ("¿Para qué sirve LoRA?", []),  # a use, not a list of advantages
        ("¿Qué es Teacher Forcing?", []),
    ],
)
def test_what_list_a_question_asks_for(question, forms):
    assert asked_lists(question) == forms


def test_a_list_question_also_sees_its_notes_section_named_for_the_list(index):
    intro = next(c for c in index.chunks if c.heading == "Teacher Forcing en Modelos de Lenguaje")
    question = "¿Y cuáles son las ventajas del teacher forcing?"
    hits = sibling_hits(index.chunks, [Hit(intro, 0.9)], question)
    assert [h.chunk.section for h in hits] == ["Teacher Forcing en Modelos de Lenguaje", "Ventajas"]
    assert hits[1].score == 0.9  # scored as its note's best hit
    # Not for another question, and never a section already retrieved.
    assert sibling_hits(index.chunks, [Hit(intro, 0.9)], "¿Qué es Teacher Forcing?") == [
        Hit(intro, 0.9)
    ]
    assert sibling_hits(index.chunks, hits, question) == hits


def unit(n, index, text, heading="", score=0.5) -> RankedUnit:
    return RankedUnit(n, index, text, heading, score)


DRAWBACKS = [
    unit(1, 0, "Teacher Forcing es una técnica de entrenamiento.", "Teacher Forcing", 0.9),
    unit(2, 0, "Dependencia de la Guía: No aprende a recuperarse.", "Desventajas", 0.2),
    unit(
        2, 1, "Discrepancia de Exposición: Entrenamiento e inferencia difieren.", "Desventajas", 0.1
    ),
    unit(2, 2, "Es una técnica poderosa.", "Desventajas", 0.05),
]


def passages(*headings: str) -> list[Hit]:
    return [
        Hit(Chunk(f"c{i}", "tf.md", heading, "texto", 0, 5, heading.split(" > ")[-1]), 0.5)
        for i, heading in enumerate(headings)
    ]


TF = passages("Teacher Forcing", "Teacher Forcing en Modelos de Lenguaje > Desventajas")


def test_units_naming_the_asked_list_come_first_in_ranker_order():
    selection = prefer_named(
        "What are the drawbacks of teacher forcing?", Selection(DRAWBACKS, 0.3), TF
    )
    assert [(u.n, u.index) for u in selection.units] == [(2, 0), (2, 1), (2, 2), (1, 0)]
    scores = [u.score for u in selection.units]
    assert scores == sorted(scores, reverse=True) and max(scores) <= 1.0
    assert selection.no_answer == 0.3
    # A question that asks for no list is left alone.
    assert prefer_named("¿Qué es?", Selection(DRAWBACKS, 0.3), TF).units == DRAWBACKS
    # Nor is a list about another topic preferred.
    other = prefer_named("¿Qué desventajas tiene LoRA?", Selection(DRAWBACKS, 0.3), TF)
    assert other.units == DRAWBACKS


LORA = [
    unit(1, 1, "LoRA inserta matrices de bajo rango.", "¿Qué es LoRA?", 0.6),
    unit(1, 3, "Ventajas de LoRA: Eficiencia: Permite entrenar con menos recursos.", score=0.5),
    unit(1, 0, "LoRA es una técnica de fine-tuning eficiente.", "¿Qué es LoRA?", 0.4),
    unit(1, 4, "Ventajas de LoRA: Flexibilidad: Fácil de aplicar.", score=0.3),
    unit(1, 5, "Desventajas de LoRA: Rango: Hay que elegirlo.", score=0.2),
    unit(2, 0, "Los adapters son módulos.", score=0.1),
]


@pytest.mark.parametrize(
    "question, units, expected",
    [
        # A list named by the label: that label's items, in the passage's order.
        (
            "¿Qué ventajas tiene LoRA?",
            prefer_named(
                "¿Qué ventajas tiene LoRA?", Selection(LORA, 0.1), passages("¿Qué es LoRA?")
            ).units,
            [(1, 3), (1, 4)],
        ),
        # A list under a heading that names it: its labelled items, not the closing line.
        (
            "¿Qué desventajas tiene?",
            prefer_named("¿desventajas?", Selection(DRAWBACKS, 0), TF).units,
            [(2, 0), (2, 1)],
        ),
        # A definition whose best unit opens its passage: the term, then its idea.
        ("¿Qué es LoRA?", sorted(LORA, key=lambda u: u.index), [(1, 0), (1, 1)]),
        # Otherwise the best unit and the next best of its passage if close enough (0.5).
        ("¿Cómo funciona LoRA?", LORA, [(1, 1), (1, 3)]),
    ],
)
def test_the_evidence_chosen(question, units, expected):
    evidence = choose_evidence(question, Selection(units, 0.1), EvidenceConfig(second_ratio=0.5))
    assert [(u.n, u.index) for u in evidence] == expected


def test_no_second_unit_when_switched_off_and_no_evidence_without_units():
    config = EvidenceConfig(second_ratio=None, definition_next=False)
    assert len(choose_evidence("¿Cómo funciona LoRA?", Selection(LORA, 0.1), config)) == 1
    assert choose_evidence("¿Qué es LoRA?", Selection([], 1.0)) == []


@pytest.mark.parametrize("bad", [{"second_ratio": 1.5}, {"second_ratio": -0.1}, {"list_items": 0}])
def test_evidence_settings_are_validated(bad):
    with pytest.raises(SettingsError):
        EvidenceConfig(**bad)


def test_a_list_is_quoted_as_one_sentence_with_its_label_once():
    items = [LORA[1], LORA[3]]
    assert quote_evidence(items) == (
        "Ventajas de LoRA: Eficiencia: Permite entrenar con menos recursos; "
        "Flexibilidad: Fácil de aplicar. [1]"
    )
    assert quote_evidence([LORA[2], LORA[0]], quote=True) == (
        "«LoRA es una técnica de fine-tuning eficiente.» [1] «LoRA inserta matrices de bajo rango.» [1]"
    )


# -- the evidence under every answer ---------------------------------------------------------


def answer_for(index, question="¿Qué es Teacher Forcing?", strategy="zero-shot"):
    from assistant.answer import Assistant, AssistantConfig
    from tests.fakes import open_policy

    config = AssistantConfig(strategy=strategy, abstention=open_policy())
    generator = ScriptedGenerator("Una técnica de entrenamiento <b>rara</b> [1].")
    assistant = Assistant(index, generator, OverlapChecker(), config, OverlapSelector())
    return assistant.answer(question)


def test_the_json_carries_the_evidence(index):
    payload = answer_for(index).to_json()
    assert payload["evidence"] and all(
        set(item) == {"n", "unit", "text", "score"} for item in payload["evidence"]
    )
    # Citations come from the evidence, by construction.
    assert {c["n"] for c in payload["citations"]} <= {item["n"] for item in payload["evidence"]}
    json.dumps(payload)  # serializable as is


def test_the_chat_shows_the_evidence_escaped_with_its_citation(index):
    answer = answer_for(index)
    html = answer_html(answer, turn=0)
    assert '<span class="evidence">En tus notas: «' in html
    for item in answer.evidence:
        assert f"«{item.text}»" in html or "&" in item.text
        assert f"[{item.n}]" in html
    assert "<b>" not in html  # the model's markup stays text


def test_the_terminal_shows_the_evidence_line(index, capsys):
    from assistant.cli.main import _print_answer_tail

    answer = answer_for(index)
    _print_answer_tail(answer)
    out = capsys.readouterr().out
    assert evidence_text(answer) in out and out.count("En tus notas:") == 1
    assert f"«{answer.evidence[0].text}» [{answer.evidence[0].n}]" in out


def test_an_abstention_shows_no_evidence(index):
    from assistant.answer import Assistant, AssistantConfig
    from tests.fakes import open_policy

    config = AssistantConfig(abstention=open_policy(max_no_answer=0.0))
    assistant = Assistant(index, ScriptedGenerator(), OverlapChecker(), config, OverlapSelector())
    answer = assistant.answer("¿Qué es Teacher Forcing en la cocina?")
    assert answer.abstained and answer.evidence == []
    assert "En tus notas" not in answer_html(answer, turn=0)


@pytest.mark.parametrize(
    "question, form, writes",
    [
        ("¿Qué ventajas tiene LoRA?", "list", False),  # the items themselves
        ("What are the drawbacks of teacher forcing?", "list", False),
        ("¿Qué es Teacher Forcing?", "definition", False),  # the notes' definition
        ("¿Qué diferencia hay entre BERT y GPT?", "difference", False),  # both sides
        ("¿Cuántos parámetros ajusta LoRA?", "factoid", True),  # the span, written
        ("¿Por qué se usa Teacher Forcing?", "other", True),
    ],
)
def test_the_writer_answers_only_the_forms_it_wins(index, question, form, writes):
    from assistant.answer import Assistant, AssistantConfig
    from assistant.selection.evidence import answer_form
    from tests.fakes import open_policy

    assert answer_form(question) == form
    generator = ScriptedGenerator("Algo escrito [1].")
    config = AssistantConfig(abstention=open_policy(abstain_on_unknown_names=False))
    answer = Assistant(index, generator, OverlapChecker(), config, OverlapSelector()).answer(
        question
    )
    assert bool(generator.prompts) is writes
    if not writes:  # the evidence, cited to its passage, with nothing withdrawn
        assert answer.draft == quote_evidence(answer.evidence) and not answer.quoted
        assert {n for s in answer.sentences for n in s.cited} == {u.n for u in answer.evidence}
