"""The abstention-veto sweep: which draft each threshold gives, and its scores."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from assistant.answer import Answer, SentenceCheck, Timings
from corpus.questions import Question
from eval.tune.abstain_sweep import Drafts, first_token_abstains, sweep

ABSTAINED = "No encuentro esto en tus notas."


def _answer(text, abstained=False):
    sentences = [] if abstained else [SentenceCheck(text, [1], 0.9, 0.9, True, [], [0.9])]
    return Answer(
        "q",
        text,
        abstained,
        [],
        sentences,
        "zero-shot",
        "fake",
        None,
        Timings(1, 10.0, 30.0, 3),
    )


def test_the_abstention_stands_only_when_the_model_is_that_sure():
    drafts = Drafts(Question("1", "q", answers=["x"]), _answer("x"), 0.7, _answer(ABSTAINED, True))
    assert drafts.at(0.5).abstained and drafts.at(0.7).abstained
    assert not drafts.at(0.71).abstained
    never = Drafts(Question("2", "q", answers=["x"]), _answer("x"), None, _answer("x"))
    assert not never.at(0.0).abstained


def test_each_threshold_is_scored_on_its_own_drafts():
    drafts = [
        # answerable: the model abstains with 0.6; vetoed, it answers right
        Drafts(
            Question("a", "q", answers=["atención pondera"]),
            _answer("atención pondera"),
            0.6,
            _answer(ABSTAINED, True),
        ),
        # unanswerable: the model abstains with 0.9; vetoed, it invents
        Drafts(
            Question("u", "q", answerable=False),
            _answer("inventado"),
            0.9,
            _answer(ABSTAINED, True),
        ),
    ]
    rows = {
        row["abstain_min_prob"]: row
        for row in sweep(drafts, lambda s: s >= 0.5, thresholds=(0.5, 0.7, 0.95))
    }
    assert (rows[0.5]["abstain_answerable"], rows[0.5]["abstain_unanswerable"]) == (1.0, 1.0)
    assert rows[0.5]["token_f1"] == 0.0
    assert (rows[0.7]["abstain_answerable"], rows[0.7]["abstain_unanswerable"]) == (0.0, 1.0)
    assert rows[0.7]["token_f1"] == 1.0
    assert (rows[0.95]["abstain_answerable"], rows[0.95]["abstain_unanswerable"]) == (0.0, 0.0)


def test_the_retrieval_gate_is_swept_after_the_fact_from_recorded_confidence():
    from assistant.abstain import AbstentionPolicy, RetrievalConfidence
    from eval.tune.abstain_sweep import sweep_before

    drafts = [
        Drafts(
            Question("a", "q", answers=["x"]),
            _answer("x"),
            None,
            _answer("x"),
            RetrievalConfidence(0.83, 0.9),
        ),
        Drafts(
            Question("u", "q", answerable=False),
            _answer("inventado"),
            None,
            _answer("inventado"),
            RetrievalConfidence(0.81, 0.9),
        ),
    ]
    rows = {
        row["min_similarity"]: row
        for row in sweep_before(
            drafts,
            lambda s: s >= 0.5,
            AbstentionPolicy(),
            thresholds=(0.9,),
            similarities=(0.80, 0.82, 0.84),
        )
    }
    assert (rows[0.80]["abstain_answerable"], rows[0.80]["abstain_unanswerable"]) == (0.0, 0.0)
    assert (rows[0.82]["abstain_answerable"], rows[0.82]["abstain_unanswerable"]) == (0.0, 1.0)
    assert (rows[0.84]["abstain_answerable"], rows[0.84]["abstain_unanswerable"]) == (1.0, 1.0)


class FirstStep:
    """A generator whose model gives fixed first-step logits over a 4-token vocabulary."""

    def __init__(self, logits, abstention_ids):
        self.logits, self.abstention_ids = torch.tensor(logits), abstention_ids
        self.model = lambda input_ids, logits_to_keep: SimpleNamespace(
            logits=self.logits.view(1, 1, -1)
        )

    def encode(self, prompt):
        return [0, 1]

    def first_token_ids(self, text):
        return self.abstention_ids


@pytest.mark.parametrize(
    "logits, expected",
    [
        ([0.0, 2.0, 1.0, 0.0], math.exp(2) / (math.exp(2) + math.exp(1) + 2)),  # " No" on top
        ([0.0, 1.0, 2.0, 0.0], None),  # another token on top: nothing to veto
    ],
)
def test_first_token_probability_is_the_greedy_tokens_own(logits, expected):
    p = first_token_abstains(FirstStep(logits, {1}), "prompt")
    assert p == pytest.approx(expected, rel=1e-6) if expected else p is None
