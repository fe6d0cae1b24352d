"""Candidate (a), the pointer: its prompt, its contract as a selector (on a fake scorer
that reads the prompt as the model would) and its training rows."""

from __future__ import annotations

import re

import numpy as np
import pytest

from assistant.selection.base import Candidate
from assistant.selection.features import candidates
from assistant.selection.pointer import (
    LETTERS,
    NONE_WORD,
    PointerSelector,
    pointer_answer,
    pointer_prompt,
)
from assistant.training.selection.cross_data import QuestionRows, UnitRow
from assistant.training.selection.pointer_train import PointerDataConfig, pointer_rows
from corpus.errors import SettingsError
from corpus.records import Chunk, Hit


def hit(n: int, heading: str, body: str) -> Hit:
    text = f"# {heading}\n\n{body}"
    chunk = Chunk(f"c{n}", f"nota{n}.md", heading, text, 0, len(text), section=heading)
    return Hit(chunk, 1.0 / n)


class FakeScorer:
    """Puts its mass on the first lettered line holding ``word``; none when no line does."""

    def __init__(self, word: str) -> None:
        self.word, self.prompts = word, []

    def probabilities(self, prompt: str, shown: int):
        self.prompts.append(prompt)
        lines = re.findall(r"^([A-Za-z])\. (.*)$", prompt, flags=re.M)
        assert len(lines) == shown
        mass = np.array([3.0 if self.word in text else 1.0 for _, text in lines] + [2.0])
        mass = mass / mass.sum()
        return mass[:-1], float(mass[-1])


HITS = [
    hit(1, "¿Qué es LoRA?", "LoRA congela los pesos. Entrena dos matrices pequeñas."),
    hit(2, "Adaptadores", "Los adaptadores añaden capas.\n\n- Ventaja: pocos parámetros"),
]


def test_the_prompt_letters_every_unit_under_its_passage():
    units = candidates(HITS)
    prompt = pointer_prompt("¿Para qué sirve LoRA?", units)
    assert prompt.startswith("Pregunta: ¿Para qué sirve LoRA?")
    assert prompt.endswith("Letra:")
    assert "[1] ¿Qué es LoRA?\nA. LoRA congela los pesos." in prompt
    assert f"{LETTERS[len(units) - 1]}. " in prompt
    assert prompt.index("[2] Adaptadores") > prompt.index("B. Entrena")


def test_the_answer_is_one_letter_or_none():
    assert pointer_answer(0) == " A"
    assert pointer_answer(27) == " b"
    assert pointer_answer(None) == f" {NONE_WORD}"


def test_the_selector_ranks_every_unit_and_gives_a_no_answer_score():
    scorer = FakeScorer("matrices")
    selector = PointerSelector(scorer=scorer)  # type: ignore[arg-type]
    first = selector.select("¿Para qué sirve LoRA?", HITS, np.zeros(4))
    again = selector.select("¿Para qué sirve LoRA?", HITS, np.zeros(4))
    assert first == again  # deterministic
    assert first.top is not None and "matrices" in first.top.text and first.top.n == 1
    assert len(first.units) == len(candidates(HITS))
    assert 0.0 < first.no_answer < 1.0
    scores = [u.score for u in first.units]
    assert scores == sorted(scores, reverse=True)


def test_no_passages_is_no_answer():
    selection = PointerSelector(scorer=FakeScorer("x")).select("¿?", [], np.zeros(4))  # type: ignore[arg-type]
    assert selection.units == [] and selection.no_answer == 1.0


def test_units_past_the_letters_rank_last():
    hits = [
        hit(n, f"Largo {n}", " ".join(f"Frase {n}.{i} del apunte largo." for i in range(20)))
        for n in (1, 2, 3)
    ]
    selection = PointerSelector(scorer=FakeScorer("3.19")).select(  # type: ignore[arg-type]
        "¿Cuál es la frase 3.19?", hits, np.zeros(4)
    )
    assert len(selection.units) == 60
    assert {u.score for u in selection.units[len(LETTERS) :]} == {0.0}
    assert "3.19" not in selection.units[0].text  # never shown, so never chosen


def rows(source: str, group: str, n_questions: int, positive: bool) -> list[QuestionRows]:
    out = []
    for i in range(n_questions):
        units = [
            UnitRow(n, j, f"{group} {i} passage {n} unit {j}", f"H{n}", 0)
            for n in (1, 2, 3)
            for j in range(2)
        ]
        if positive:
            units[3] = UnitRow(2, 1, units[3].text, "H2", 1)
        out.append(QuestionRows(f"{group}-{i}", f"q {group} {i}", group, source, positive, units))
    return out


def test_training_rows_point_at_the_evidence_and_keep_validation_out():
    data = rows("notes", "notas", 4, True)
    for article in range(20):
        data += rows("squad", f"art{article}", 3, article % 4 != 0)
    config = PointerDataConfig(squad_answerable=100, squad_none=100, notes_copies=3)
    examples = pointer_rows(data, config)
    assert examples == pointer_rows(data, config)  # seeded
    notes = [e for e in examples if e["kind"] == "notes"]
    assert len(notes) == 4 * 3
    for e in examples:
        letter = e["completion"].strip()
        if letter == NONE_WORD:
            assert e["kind"] == "squad"
            continue
        line = re.search(rf"^{letter}\. (.*)$", e["prompt"], flags=re.M)
        assert line and "passage 2 unit 1" in line.group(1)  # the labelled unit
    # Reordered copies move the evidence's letter.
    assert len({e["completion"] for e in notes}) > 1
    # A tenth of the SQuAD-es articles never trains.
    used = {e["id"].rsplit("-", 1)[0] for e in examples if e["kind"] == "squad"}
    assert len(used) == 18


@pytest.mark.parametrize("bad", [["--squad-answerable", "-1"], ["--squad-none", "-2"]])
def test_the_trainer_refuses_bad_counts_before_any_work(bad, tmp_path, capsys):
    from assistant.training.selection.pointer_train import main

    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "m"), *bad])
    assert ">= 0" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_candidate_past_the_letters_is_not_in_the_prompt():
    units = [Candidate(1, i, f"u{i}", "") for i in range(len(LETTERS) + 3)]
    prompt = pointer_prompt("q", units)
    assert f"u{len(LETTERS) - 1}" in prompt and f"u{len(LETTERS)}" not in prompt


@pytest.mark.slow
def test_the_shipped_pointer_is_one_distribution_over_the_units_shown_and_none():
    """The real adapter (assistant/selection/pointer/) over Gemma 270M, on the notes."""
    from assistant.selection.pointer import MODEL_DIR
    from index.store import open_index
    from tests.conftest import NOTES

    if not (MODEL_DIR / "adapter_model.safetensors").is_file():
        pytest.fail("the pointer's adapter is not in the repository (selection/pointer/)")
    index = open_index(NOTES)[0]
    selector = PointerSelector()
    question = "¿Para qué sirve LoRA?"
    hits = index.search(question, k=3)
    first = selector.select(question, hits, index.query_vector(question))
    assert first == selector.select(question, hits, index.query_vector(question))
    assert len(first.units) == len(candidates(hits))
    scores = [u.score for u in first.units]
    assert scores == sorted(scores, reverse=True)
    shown = sum(scores[: len(LETTERS)])
    assert shown + first.no_answer == pytest.approx(1.0, abs=3e-3)  # each rounded to 4 places


def test_a_bad_precision_is_refused_before_the_model_loads(monkeypatch):
    from assistant.generators import model_cache
    from assistant.selection.pointer import PointerScorer

    def no_load(name):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(model_cache, "prepare_model", no_load)
    with pytest.raises(SettingsError, match="int8"):
        PointerScorer(precision="int8")
