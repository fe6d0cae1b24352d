"""The cross-encoder selector (candidate b of issue 22): its training data, its resumable
training, and the shipped model's contract on the real notes."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from assistant.training.selection.cross_data import QuestionRows, UnitRow, split_groups
from assistant.training.selection.cross_train import (
    CrossTrainConfig,
    epoch_order,
    sample_units,
    step_questions,
)
from corpus.errors import SettingsError
from tests.conftest import NOTES


def _row(i: int, source: str = "squad", positive: int | None = 0, units: int = 5) -> QuestionRows:
    return QuestionRows(
        id=f"q{i}",
        question=f"¿Qué hace el componente {i}?",
        group=f"{source}-{i // 2}",  # two questions per article
        source=source,
        answerable=positive is not None,
        units=[
            UnitRow(
                1 + k // 3,
                k % 3,
                f"El componente {i} hace la cosa {k}.",
                "Sección",
                int(k == positive),
            )
            for k in range(units)
        ],
    )


def test_rows_round_trip_through_json():
    row = _row(3)
    assert QuestionRows.from_json(json.loads(json.dumps(row.to_json()))) == row
    assert row.has_positive and not _row(4, positive=None).has_positive


def test_validation_holds_whole_articles_and_never_a_notes_question():
    rows = [_row(i) for i in range(20)] + [_row(100 + i, "notes") for i in range(4)]
    train, validation = split_groups(rows, 0.2, seed=0)
    assert len(train) + len(validation) == len(rows)
    assert {r.group for r in train}.isdisjoint({r.group for r in validation})
    assert validation and all(r.source == "squad" for r in validation)
    assert split_groups(rows, 0.2, seed=0) == (train, validation)  # seeded


def test_an_epoch_visits_every_question_and_the_notes_more_often():
    train = [_row(i) for i in range(6)] + [_row(100, "notes")]
    config = CrossTrainConfig(notes_repeats=3, questions_per_step=2)
    counts = Counter(epoch_order(train, config, 0))
    assert counts == Counter({**{i: 1 for i in range(6)}, 6: 3})
    assert epoch_order(train, config, 1) != epoch_order(train, config, 0)  # reshuffled
    # The questions of a step depend on the step alone (what makes a resume exact), and
    # steps run on into the next epoch.
    assert step_questions(train, config, 7) == step_questions(train, config, 7)
    seen = [i for step in range(5) for i, _ in step_questions(train, config, step)]
    assert Counter(seen[:9]) == counts


def test_sampling_keeps_every_positive_and_caps_the_negatives():
    row = _row(0, positive=2, units=20)
    picked = sample_units(row, 8, seed=5)
    assert len(picked) == 8 and 2 in picked and picked == sorted(picked)
    assert sample_units(row, 8, seed=5) == picked
    assert sample_units(row, 8, seed=6) != picked
    assert sample_units(_row(1, units=3), 8, seed=0) == [0, 1, 2]


def test_a_missing_or_foreign_model_is_a_clear_error(tmp_path):
    from assistant.selection.cross import CrossModel, CrossScorer

    with pytest.raises(SettingsError, match="cross_train"):
        CrossModel.load(tmp_path)
    with pytest.raises(SettingsError, match="cross_train"):
        CrossScorer(tmp_path)
    (tmp_path / "cross.json").write_text(json.dumps({"no_answer_features": ["x"]}))
    with pytest.raises(SettingsError, match="columnas"):
        CrossModel.load(tmp_path)


def test_no_answer_row_reads_the_best_logits():
    from assistant.selection.cross import NO_ANSWER_FEATURES, no_answer_row

    row = no_answer_row(np.array([0.5, 2.0, -1.0]))
    assert row.shape == (len(NO_ANSWER_FEATURES),)
    assert row[:3].tolist() == [2.0, 0.5, 1.5]
    assert no_answer_row(np.array([1.0]))[2] == 10.0  # a lone unit has a wide margin


# -- real e5 weights ------------------------------------------------------------------------

TINY = {
    "lora_r": 2,
    "lora_alpha": 4,
    "questions_per_step": 2,
    "units_per_question": 3,
    "max_steps": 3,
    "save_steps": 1,
    "warmup_steps": 1,
    "validation_share": 0.34,
}


def _tiny_rows() -> list[QuestionRows]:
    # Each article holds an answerable and an unanswerable question: the no-answer model
    # needs both on the validation side.
    rows = [_row(i, positive=None if i % 2 else 0, units=4) for i in range(6)]
    return rows + [_row(100, "notes", units=4)]


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped_and_ends_as_a_whole_one(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from assistant.selection.cross import CrossModel
    from assistant.training.selection import cross_train as trainer

    config = CrossTrainConfig(**TINY)
    whole = tmp_path / "whole"
    report = trainer.train_cross(_tiny_rows(), whole, tmp_path / "ck-whole", config)
    assert report["steps"] == 3 and report["resumed_from"] is None
    assert CrossModel.load(whole).config["steps"] == 3

    original = trainer.save_checkpoint

    def killed_after_step_2(root, model, optimizer, scheduler, state):
        original(root, model, optimizer, scheduler, state)
        if state["step"] == 2:
            raise KeyboardInterrupt("simulated kill after the checkpoint of step 2")

    resumed, root = tmp_path / "resumed", tmp_path / "ck-resumed"
    monkeypatch.setattr(trainer, "save_checkpoint", killed_after_step_2)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_cross(_tiny_rows(), resumed, root, config)
    monkeypatch.setattr(trainer, "save_checkpoint", original)
    assert [p.name for p in root.glob("step-*")] == ["step-000002"]
    assert not resumed.exists()  # the model folder appears whole or not at all

    assert trainer.train_cross(_tiny_rows(), resumed, root, config)["resumed_from"] == 2
    for name in ("adapter_model.safetensors", "head.safetensors"):
        a, b = load_file(str(whole / name)), load_file(str(resumed / name))
        assert a.keys() == b.keys()
        assert all((a[k] - b[k]).abs().max().item() < 1e-6 for k in a)

    other = CrossTrainConfig(**{**TINY, "lora_r": 4})
    (root / "step-000003").mkdir(exist_ok=True)
    with pytest.raises(Exception, match="otra configuración"):
        trainer.train_cross(_tiny_rows(), tmp_path / "other", root, other)


@pytest.mark.slow
def test_the_shipped_selector_ranks_every_unit_and_finds_loras_use():
    from assistant.selection.cross import MODEL_DIR, CrossEncoderSelector
    from index.store import open_index

    if not (MODEL_DIR / "head.safetensors").is_file():
        pytest.fail("the cross-encoder selector is not in the repository (selection/cross/)")
    index = open_index(NOTES)[0]
    selector = CrossEncoderSelector()
    question = "¿Para qué sirve LoRA?"
    hits = index.search(question, k=3)
    first = selector.select(question, hits, index.query_vector(question))
    again = selector.select(question, hits, index.query_vector(question))
    assert first == again  # deterministic
    scores = [u.score for u in first.units]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert 0 <= first.no_answer <= 1
    assert "LoRA" in first.top.heading + first.top.text
