"""The evidence selector's contract: a question and its passages in, ranked units out.

A *unit* is what one answer sentence can restate (``support.passage_units``: a sentence,
a list item with its label, a table cell). The selector scores every unit of the
retrieved passages and says how likely it is that none of them answers (``no_answer``).
The writer then works from the top units only, and the student sees them as the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from corpus.records import Hit

# A labelled unit: "Desventajas: Exposición al sesgo" (a list item with its label, as
# support.passage_units writes it); group 1 the label, group 2 the item.
LABELLED = re.compile(r"^([^.:]{2,60}): (\S.*)$")


def label_of(unit: str) -> str:
    """ "Desventajas: Exposición al sesgo" -> "Desventajas"; "" for a unit without one."""
    match = LABELLED.match(unit)
    return match.group(1) if match else ""


# texts -> (n, dim) L2-normalized e5 passage embeddings (the support checker's cache)
UnitVectors = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Candidate:
    """One unit of a retrieved passage, before scoring."""

    n: int  # 1-based number of its passage in the retrieval order (the [n] it is cited by)
    index: int  # its position among its passage's units (0 = first)
    text: str
    heading: str  # its passage's section heading ("" when the note has none)


@dataclass(frozen=True)
class RankedUnit:
    n: int
    index: int
    text: str
    heading: str
    score: float  # the selector's confidence that this unit answers, in [0, 1]

    def to_json(self) -> dict:
        return {"n": self.n, "unit": self.index, "text": self.text, "score": self.score}


@dataclass(frozen=True)
class Selection:
    units: list[RankedUnit]  # every candidate, best first
    no_answer: float  # P(no unit of these passages answers), in [0, 1]

    @property
    def top(self) -> RankedUnit | None:
        return self.units[0] if self.units else None


class Selector(Protocol):
    name: str

    def select(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Selection:
        """Every unit of ``hits`` ranked best first (ties keep passage order), and the
        no-answer score. Deterministic: the same input gives the same Selection."""
        ...
