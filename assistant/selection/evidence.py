"""From a ranked selection to the evidence an answer rests on, and that evidence quoted.

The evidence is the best unit, plus:

- for a list question (advantages, drawbacks, kinds) whose best unit is a list item, the
  other items under the same label in that passage ("Desventajas: ..."), in their order:
  the answer is the list, not one item of it;
- otherwise the next best unit of the same passage when the selector rates it at least
  ``second_ratio`` of the best (a definition and its contrast, a term and its idea).

Units keep their passage number, so each sentence written from them cites that passage by
construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.selection.base import RankedUnit, Selection
from assistant.selection.features import question_forms
from corpus.errors import SettingsError

LIST_FORMS = ("advantages", "drawbacks", "kinds")
_LABEL = re.compile(r"^([^.:]{2,60}): (\S.*)$")


@dataclass(frozen=True)
class EvidenceConfig:
    # Set by hand; to be chosen on the dev sets by token F1 (issue 22).
    second_ratio: float = 0.5
    list_items: int = 6  # a longer list is cut: the answer should stay short

    def __post_init__(self) -> None:
        if not 0.0 <= self.second_ratio <= 1.0:
            raise SettingsError(f"second_ratio must be in [0, 1], got {self.second_ratio}")
        if self.list_items < 1:
            raise SettingsError(f"list_items must be >= 1, got {self.list_items}")


def label_of(unit: str) -> str:
    """ "Desventajas: Exposición al sesgo" -> "Desventajas"; "" for a unit without one."""
    match = _LABEL.match(unit)
    return match.group(1) if match else ""


def is_list_question(question: str) -> bool:
    from assistant.selection.features import QUESTION_FORMS

    asks = question_forms(question)
    return any(asks[i] for i, (name, _) in enumerate(QUESTION_FORMS) if name in LIST_FORMS)


def choose_evidence(
    question: str, selection: Selection, config: EvidenceConfig | None = None
) -> list[RankedUnit]:
    """The units the answer is written from, in their passage's order (empty when the
    selection has none)."""
    config = config or EvidenceConfig()
    top = selection.top
    if top is None:
        return []
    label = label_of(top.text)
    if label and is_list_question(question):
        items = [u for u in selection.units if u.n == top.n and label_of(u.text) == label]
        items.sort(key=lambda u: u.index)
        start = next(i for i, u in enumerate(items) if u is top)
        # The best item and those around it, at most list_items of them.
        first = max(0, min(start, len(items) - config.list_items))
        return items[first : first + config.list_items]
    chosen = [top]
    second = next((u for u in selection.units[1:] if u.n == top.n), None)
    if second is not None and top.score > 0 and second.score >= config.second_ratio * top.score:
        chosen.append(second)
    return sorted(chosen, key=lambda u: u.index)


def quote_evidence(units: list[RankedUnit], quote: bool = False) -> str:
    """The evidence as answer text, each sentence closed by its passage's [n]. List items
    under one label are written as one list sentence, the label once. ``quote`` puts the
    notes' words in «» (an answer that is the notes' own sentence, not the model's)."""
    sentences: list[tuple[str, int]] = []
    label = ""
    for unit in units:
        this = label_of(unit.text)
        if this and this == label and sentences and sentences[-1][1] == unit.n:
            item = _LABEL.match(unit.text).group(2).rstrip(". ")
            sentences[-1] = (f"{sentences[-1][0]}; {item}", unit.n)
        else:
            sentences.append((unit.text.rstrip(". "), unit.n))
        label = this
    if quote:
        return " ".join(f"«{_closed(text)}» [{n}]" for text, n in sentences)
    return " ".join(f"{_closed(text)} [{n}]" for text, n in sentences)


def _closed(text: str) -> str:
    """Closed by a full stop, so the sentence splitter keeps its [n] with it."""
    return text if text.endswith((".", "!", "?")) else text + "."
