"""The synthetic support pairs (issue 25): each rewriting does what its kind says, the
pairs of one passage cover the kinds, and the halves keep articles apart."""

from __future__ import annotations

import random

from assistant.support import has_negation, passage_units
from assistant.training.support.pairs import (
    SUPPORTED_KINDS,
    UNSUPPORTED_KINDS,
    Passage,
    build_pairs,
    clause,
    invented_clause,
    joined,
    negated,
    opposite_list,
    passage_pairs,
    relabelled,
    reordered,
    role_reversal,
    swapped_entity,
    synonym,
)

LORA = """## ¿Qué es LoRA?

LoRA congela los pesos del modelo y entrena matrices de rango bajo, que se suman a las capas originales.

Ventajas:
- Menor uso de memoria durante el entrenamiento del modelo.
- Permite guardar un adaptador pequeño por cada tarea distinta.

Desventajas:
- Puede rendir peor que el ajuste completo en tareas muy complejas.
"""
RHINE = """En 1815, el Congreso de Viena fijó la frontera entre Francia y Prusia en el Rin. El río tiene 1.230 kilómetros de longitud y desemboca en el mar del Norte."""
OTHER = """El puerto de Rotterdam recibe 450 barcos cada semana desde Alemania. Los comerciantes de Basilea exportan productos químicos por el río."""


def test_negation_is_added_before_the_verb_and_removed_when_present():
    assert negated("LoRA es un método eficiente de ajuste.") == (
        "LoRA no es un método eficiente de ajuste."
    )
    flipped = negated("El modelo no necesita etiquetas humanas para aprender.")
    assert flipped == "El modelo necesita etiquetas humanas para aprender."
    assert not has_negation(flipped)


def test_role_reversal_swaps_two_terms_of_one_kind_and_keeps_every_word():
    unit = "El Congreso de Viena fijó la frontera entre Francia y la antigua Prusia."
    swapped = role_reversal(unit, random.Random(0))
    assert swapped is not None and swapped != unit
    assert sorted(swapped.rstrip(".").split()) == sorted(unit.rstrip(".").split())


def test_role_reversal_needs_two_terms_apart():
    assert role_reversal("Los Estados Unidos firmaron.", random.Random(0)) is None


def test_a_swapped_entity_comes_from_elsewhere_and_is_absent_from_the_passage():
    unit = passage_units(RHINE)[1]
    swapped = swapped_entity(unit, RHINE, ["450", "Rotterdam", "Basilea"], random.Random(1))
    assert swapped is not None and swapped != unit
    assert any(term in swapped for term in ("450", "Rotterdam", "Basilea"))


def test_an_item_moves_to_the_opposite_list():
    units = passage_units(LORA)
    advantage = next(u for u in units if u.startswith("Ventajas"))
    drawback = next(u for u in units if u.startswith("Desventajas"))
    assert opposite_list(advantage).startswith("Una desventaja es que menor uso de memoria")
    assert opposite_list(drawback).startswith("Una ventaja es que puede rendir peor")
    assert opposite_list("LoRA congela los pesos del modelo.") is None


def test_supported_rewordings_keep_the_unit_s_words():
    unit = passage_units(RHINE)[0]
    assert reordered(unit) == (
        "El Congreso de Viena fijó la frontera entre Francia y Prusia en el Rin en 1815."
    )
    assert clause(passage_units(LORA)[0], random.Random(0)) in (
        "LoRA congela los pesos del modelo.",
        "Entrena matrices de rango bajo.",
        "Que se suman a las capas originales.",
    )
    item = next(u for u in passage_units(LORA) if u.startswith("Ventajas"))
    assert (
        relabelled(item) == "Menor uso de memoria durante el entrenamiento del modelo (ventajas)."
    )
    assert synonym("El método utiliza una técnica importante.", random.Random(0)) != (
        "El método utiliza una técnica importante."
    )


def test_two_units_are_joined_with_a_name_keeping_its_capital():
    first, second = passage_units(RHINE)
    both = joined(first, second, RHINE)
    assert both.startswith(first.rstrip("."))
    assert both.endswith(
        ", y el río tiene 1.230 kilómetros de longitud y desemboca en el mar del Norte."
    )
    named = joined("El río nace en Suiza.", "Prusia fijó la frontera.", "entre Francia y Prusia")
    assert named.endswith("y Prusia fijó la frontera.")


def test_an_invented_clause_is_appended_to_a_true_unit():
    unit = passage_units(RHINE)[1]
    made = invented_clause(unit, passage_units(OTHER)[0], random.Random(0))
    assert made.startswith(unit.rstrip(".")) and ", y además " in made


def test_a_passage_yields_both_labels_and_only_known_kinds():
    passages = [
        Passage(LORA, "lora.md", "notes"),
        Passage(RHINE, "Rin", "squad"),
        Passage(OTHER, "Rin", "squad"),
    ]
    pairs = build_pairs(passages, seed=0)
    assert {p.kind for p in pairs} <= set(SUPPORTED_KINDS) | set(UNSUPPORTED_KINDS)
    assert {p.supported for p in pairs} == {True, False}
    assert all(p.supported == (p.kind in SUPPORTED_KINDS) for p in pairs)
    notes = [p for p in pairs if p.source == "notes"]
    assert "opposite_list" in {p.kind for p in notes}
    assert build_pairs(passages, seed=0) == pairs  # seeded


def test_a_sentence_from_another_paragraph_is_a_negative_only_when_the_passage_lacks_it():
    same = Passage(RHINE, "Rin", "squad")
    pairs = passage_pairs(same, [Passage(RHINE, "Rin", "squad")], random.Random(0), per_kind=3)
    assert not [p for p in pairs if p.kind == "other_paragraph"]


def _squad_file(tmp_path, titles):
    """A SQuAD v2 file of one two-sentence paragraph per title, and its article split."""
    import json

    data = [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": f"El artículo {title} habla de su tema. Tiene una segunda frase larga.",
                    "qas": [],
                }
            ],
        }
        for title in titles
    ]
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"version": "v2.0", "data": data}), encoding="utf-8")
    split = tmp_path / "split.json"
    split.write_text(
        json.dumps({"train": titles[:6], "dev": titles[6:7], "test": titles[7:]}),
        encoding="utf-8",
    )
    return squad, split


def test_the_halves_keep_articles_apart_and_never_read_dev_or_test_articles(tmp_path):
    from assistant.training.support.pairs import squad_passages

    titles = [f"Tema {i}" for i in range(9)]
    squad, split = _squad_file(tmp_path, titles)
    halves = squad_passages(squad, split)
    train = {p.group for p in halves["train"]}
    heldout = {p.group for p in halves["heldout"]}
    assert len(train) == len(heldout) == 3 and train.isdisjoint(heldout)
    assert train | heldout == set(titles[:6])  # never a dev or test article


def test_the_notes_pairs_never_read_a_held_out_section():
    from assistant.training.selection.train import HELD_OUT
    from assistant.training.support.pairs import notes_passages
    from corpus.chunking import chunk_notes
    from corpus.loader import load_notes
    from corpus.questions import load_questions
    from tests.conftest import NOTES

    held_sections = {q.section for path in HELD_OUT for q in load_questions(path) if q.section}
    held_texts = {
        c.text for c in chunk_notes(load_notes(NOTES).notes) if c.section in held_sections
    }
    kept = {p.text for p in notes_passages(NOTES)}
    assert held_texts and kept and not held_texts & kept
