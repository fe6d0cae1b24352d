"""Evidence selection: which unit of the retrieved passages answers the question.

``base.py`` holds the contract (``Selector``, ``Selection``, ``RankedUnit``),
``features.py`` what the learned ranker sees, ``ranker.py`` the selectors (the learned
ranker, the extractive reader's score as the baseline) and their registry, ``train.py``
how ``ranker.json`` was made.
"""

from assistant.selection.base import Candidate, RankedUnit, Selection, Selector, UnitVectors
from assistant.selection.features import FEATURES, candidates, question_forms
from assistant.selection.ranker import (
    SELECTORS,
    BlendedSelector,
    LearnedRanker,
    QuoterSelector,
    RankerModel,
    get_selector,
)

__all__ = [
    "BlendedSelector",
    "FEATURES",
    "SELECTORS",
    "Candidate",
    "LearnedRanker",
    "RankedUnit",
    "RankerModel",
    "QuoterSelector",
    "Selection",
    "Selector",
    "UnitVectors",
    "candidates",
    "get_selector",
    "question_forms",
]
