"""The learned support scorers (issue 25): the feature model's file and scores, the
cross-encoder checker's batching, and the training split; fakes only (the real models'
rows are in tests/test_support_real.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.prompts import ABSTAIN
from assistant.selection.ranker import Linear
from assistant.support.cross import CrossChecker, evidence_text
from assistant.support.learned import FEATURES, LearnedChecker, LearnedModel
from assistant.training.support.cross_train import Example, SupportCrossConfig, batch_rows, split
from corpus.errors import SettingsError
from tests.fakes import HashEmbedder

PASSAGE = """## ¿Qué es LoRA?

LoRA congela los pesos del modelo y entrena matrices de rango bajo.

Ventajas:
- Menor uso de memoria durante el entrenamiento.
"""


def _model(threshold: float = 0.5) -> LearnedModel:
    """A model that reads only the hand-weighted score: P = sigmoid(10 * (hand - 0.5))."""
    width = len(FEATURES)
    coef = np.zeros(width)
    coef[FEATURES.index("hand_score")] = 10.0
    linear = Linear(np.zeros(width), np.ones(width), coef, -5.0)
    return LearnedModel(linear, threshold, {})


def test_the_model_file_round_trips_and_rejects_other_columns(tmp_path):
    path = tmp_path / "learned.json"
    path.write_text(json.dumps(_model(0.6).to_json()), encoding="utf-8")
    loaded = LearnedModel.load(path)
    assert loaded.threshold == 0.6
    assert np.allclose(loaded.linear.coef, _model().linear.coef)
    record = _model().to_json()
    record["features"] = record["features"][:-1]
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(SettingsError, match="columnas"):
        LearnedModel.load(path)
    with pytest.raises(SettingsError, match="entrénalo"):
        LearnedModel.load(tmp_path / "missing.json")


def test_the_learned_checker_scores_with_its_model_and_its_own_threshold(tmp_path):
    checker = LearnedChecker(HashEmbedder(), cache_dir=tmp_path, model=_model(0.7))
    verbatim = "LoRA congela los pesos del modelo y entrena matrices de rango bajo."
    off_topic = "El puerto de Rotterdam recibe barcos desde Alemania cada semana."
    scores = checker.scores([verbatim, off_topic, ABSTAIN], [PASSAGE])[:, 0]
    assert scores[0] > 0.9 > 0.1 > scores[1]
    assert scores[2] == 1.0  # the abstention sentence, as for every checker
    assert checker.supported(0.71) and not checker.supported(0.69)


def test_the_shipped_learned_model_loads():
    model = LearnedModel.load()
    assert 0 < model.threshold < 1 and model.report["pairs"] > 1000


class _FakeScorer:
    """Logit +5 when the evidence holds the sentence's first word, else -5."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    def pair_logits(self, pairs):
        self.calls.append(pairs)
        return np.array([5.0 if a.split()[0] in b else -5.0 for a, b in pairs])


def test_the_cross_checker_reads_every_pair_of_an_answer_in_one_batch(tmp_path):
    folder = tmp_path / "cross"
    folder.mkdir()
    (folder / "support_cross.json").write_text('{"threshold": 0.4}', encoding="utf-8")
    checker = CrossChecker(HashEmbedder(), cache_dir=tmp_path, folder=folder)
    checker._scorer = _FakeScorer()
    other = "## Otra\n\nEl puerto de Rotterdam recibe barcos desde Alemania."
    sentences = ["LoRA congela los pesos del modelo.", "Rotterdam recibe barcos.", ABSTAIN]
    scores = checker.scores(sentences, [PASSAGE, other])
    assert len(checker._scorer.calls) == 1 and len(checker._scorer.calls[0]) == 4
    assert scores[0, 0] > 0.99 and scores[0, 1] < 0.01
    assert scores[1, 1] > 0.99 and scores[1, 0] < 0.01
    assert (scores[2] == 1.0).all()
    assert checker.supported(0.41) and not checker.supported(0.39)


def test_the_cross_checker_without_its_files_says_how_to_train_it(tmp_path):
    with pytest.raises(SettingsError, match="support.cross_train"):
        CrossChecker(HashEmbedder(), cache_dir=tmp_path, folder=tmp_path / "none")


def test_evidence_is_the_aligned_unit_then_the_runner_up(tmp_path):
    from assistant.support import SupportChecker

    checker = SupportChecker(HashEmbedder(), cache_dir=tmp_path)
    parts = checker.parts(["Menor uso de memoria con LoRA."], [PASSAGE])[0][0]
    assert evidence_text(parts).startswith(parts.unit)
    assert parts.second_unit and evidence_text(parts).endswith(parts.second_unit)


def _example(i: int) -> Example:
    return Example(f"frase {i}", f"unidad {i}", i % 2, f"grupo-{i // 4}", "verbatim")


def test_validation_holds_whole_groups_and_batches_cover_an_epoch():
    rows = [_example(i) for i in range(40)]
    train, validation = split(rows, 0.2, seed=0)
    assert validation and {r.group for r in train}.isdisjoint({r.group for r in validation})
    config = SupportCrossConfig(batch_size=4)
    seen = [i for step in range(len(train) // 4) for i in batch_rows(len(train), config, step)]
    assert sorted(seen) == list(range(len(train)))
    assert batch_rows(len(train), config, 3) == batch_rows(len(train), config, 3)


def test_training_holds_each_weight_to_its_sign():
    from assistant.support.learned import SIGNS
    from assistant.training.support.train import fit_signed

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(400, len(FEATURES)))
    labels = (rows[:, FEATURES.index("hand_score")] > 0).astype(int)
    # A check column that (by accident of the data) goes with support: its weight stays 0.
    rows[:, FEATURES.index("negation_flip")] = labels + rng.normal(scale=0.1, size=400)
    linear = fit_signed(rows, labels, 1e-3)
    for name, sign in SIGNS.items():
        weight = linear.coef[FEATURES.index(name)]
        assert sign == 0 or weight * sign >= -1e-9, name
    assert linear.coef[FEATURES.index("negation_flip")] == pytest.approx(0.0, abs=1e-6)
    assert linear.coef[FEATURES.index("hand_score")] > 1.0
