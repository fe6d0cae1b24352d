"""A cross-encoder support scorer: e5-small reads the sentence beside its evidence.

The model is the selector's architecture (``selection.cross.build_model``: e5-small in
torch with a LoRA adapter and a linear head over its mean hidden state), trained by
``python -m assistant.training.support.cross_train`` on the synthetic pairs
(``assistant/training/support/pairs.py``). It reads
``<s> query: sentence </s></s> passage: evidence </s>``, where the evidence is the unit
of the passage e5 aligns with the sentence followed by the next-best one (so a sentence
joining two units sees both), and gives the logit of "supported".

``CrossChecker`` is a ``SupportChecker`` whose pair score is that probability: the units,
their alignment and the special sentences are the hand-weighted checker's (``combine`` stays
its hand-weighted mix); every pair of an answer is read in one forward (``combine_table``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from assistant.selection.ranker import sigmoid
from assistant.support.scorer import SupportChecker, SupportConfig, SupportParts
from corpus.errors import SettingsError

if TYPE_CHECKING:  # torch: loaded on first use (CrossChecker.scorer)
    from assistant.selection.cross import CrossScorer

MODEL_DIR = Path(__file__).with_name("cross")
MODEL_FILE = "support_cross.json"  # threshold and training report
TRAINER = "assistant.training.support.cross_train"


def evidence_text(parts: SupportParts) -> str:
    """What the model reads beside the sentence: the aligned unit, then the runner-up."""
    if parts.second_unit and parts.second_unit != parts.unit:
        return f"{parts.unit} {parts.second_unit}"
    return parts.unit


def load_threshold(folder: Path) -> tuple[float, dict]:
    where = f"modelo de respaldo {folder / MODEL_FILE}"
    try:
        record = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        threshold = float(record["threshold"])
    except FileNotFoundError:
        raise SettingsError(f"No existe el {where}: entrénalo con python -m {TRAINER}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise SettingsError(f"{where} no es válido: {error}") from None
    if not 0.0 < threshold < 1.0:
        raise SettingsError(f"{where}: el umbral debe estar en (0, 1)")
    return threshold, record.get("report", {})


class CrossChecker(SupportChecker):
    """The support checker with the cross-encoder's probability as its pair score."""

    name = "cross"

    def __init__(
        self,
        embedder=None,
        config: SupportConfig | None = None,
        cache_dir: Path | None = None,
        folder: Path = MODEL_DIR,
    ) -> None:
        super().__init__(embedder, config, cache_dir)
        self.threshold, self.report = load_threshold(folder)
        self._folder = folder
        self._scorer: CrossScorer | None = None

    @property
    def scorer(self):
        if self._scorer is None:  # torch and the weights: loaded on first use
            from assistant.selection.cross import CrossScorer

            self._scorer = CrossScorer(self._folder, trainer=TRAINER)
        return self._scorer

    def combine_table(
        self, sentences: list[str], table: list[list[SupportParts | None]]
    ) -> np.ndarray:
        matrix = np.zeros((len(sentences), len(table[0]) if table else 0), dtype=np.float32)
        where = [(i, j) for i, row in enumerate(table) for j, p in enumerate(row) if p]
        if where:
            # cast: ``where`` holds only the pairs that have parts.
            pairs = [
                (sentences[i], evidence_text(cast(SupportParts, table[i][j]))) for i, j in where
            ]
            probabilities = sigmoid(self.scorer.pair_logits(pairs))
            for (i, j), p in zip(where, probabilities):
                matrix[i, j] = p
        return matrix

    def supported(self, score: float) -> bool:
        return float(score) >= self.threshold

    @property
    def claim_threshold(self) -> float | None:
        return None  # claims on its scale not measured: whole sentences only
