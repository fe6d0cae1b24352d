"""From a ranked selection to the evidence an answer rests on, and that evidence quoted.

The evidence is the best unit, plus:

- for a list question (advantages, drawbacks, kinds; ``lists.py``) whose best unit is a
  list item, the other items of that list in its passage, in their order: the items under
  the same label ("Desventajas: ..."), or the labelled items under a heading that names
  the list ("## Desventajas"); the answer is the list, not one item of it;
- for a definition question whose best unit opens its passage, the unit that follows it
  (a term, then its idea), unless that is a new list item;
- otherwise the next best unit of the same passage when the selector rates it at least
  ``second_ratio`` of the best (a definition and its contrast).

Units keep their passage number, so each sentence written from them cites that passage by
construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.selection.base import LABELLED, RankedUnit, Selection, label_of
from assistant.selection.features import QUESTION_FORMS, question_forms
from assistant.selection.lists import asked_lists, names_list, unit_named
from corpus.errors import SettingsError


@dataclass(frozen=True)
class EvidenceConfig:
    # None: never. Chosen on the dev sets by the quoted evidence's token F1
    # (eval/tune/evidence.py, docs/results/evidence_tuning.json).
    second_ratio: float | None = 0.5
    list_items: int = 6  # a longer list is cut: the answer should stay short
    # A definition question ("¿qué es…?") whose best unit opens its passage also gets the
    # unit after it, unless that is a new list item: notes define a term, then give its
    # idea. Costs a little token F1 on the dev sets (short references; see
    # docs/results/evidence_tuning.json) for answers a student can use.
    definition_next: bool = True
    # The question forms (``answer_form``) the writer answers; the others are answered
    # with the evidence itself. On the dev sets (docs/results/no_answer.json "by_form"),
    # quoting won lists on the notes (token F1 0.31 vs 0.21) and tied definitions (0.56 vs
    # 0.56 over both notes sets) while keeping the term as the subject and its idea; the
    # writer won factoids and the rest (SQuAD-es 0.41 vs 0.12: it writes the span). A
    # difference is quoted too: the dev sets hold two (writer 0.14, quote 0.20 F1), too few
    # to decide, and the writer copied one side of "estáticos y contextuales" and dropped
    # the contrast the evidence held.
    written_forms: tuple[str, ...] = ("factoid", "other")

    def __post_init__(self) -> None:
        if self.second_ratio is not None and not 0.0 <= self.second_ratio <= 1.0:
            raise SettingsError(f"second_ratio must be in [0, 1], got {self.second_ratio}")
        if self.list_items < 1:
            raise SettingsError(f"list_items must be >= 1, got {self.list_items}")
        unknown = set(self.written_forms) - set(ANSWER_FORMS)
        if unknown:
            raise SettingsError(
                f"written_forms must be among {ANSWER_FORMS}, got {sorted(unknown)}"
            )


ANSWER_FORMS = ("list", "definition", "difference", "factoid", "other")
_FACTOID = ("quantity", "person", "date", "place")


def answer_form(question: str) -> str:
    """What shape the answer takes: a list (advantages, drawbacks, kinds), a definition
    ("¿qué es…?"), a difference (both sides), a factoid (how many, who, when, where: the
    span) or any other."""
    if asked_lists(question):
        return "list"
    asks = {name for (name, _), on in zip(QUESTION_FORMS, question_forms(question)) if on}
    if "difference" in asks:
        return "difference"
    if asks & set(_FACTOID):
        return "factoid"
    return "definition" if "definition" in asks else "other"


def choose_evidence(
    question: str, selection: Selection, config: EvidenceConfig | None = None
) -> list[RankedUnit]:
    """The units the answer is written from, in their passage's order (empty when the
    selection has none)."""
    config = config or EvidenceConfig()
    top = selection.top
    if top is None:
        return []
    forms = asked_lists(question)
    if forms and unit_named(top, forms):
        items = [u for u in selection.units if u.n == top.n and unit_named(u, forms)]
        label = label_of(top.text)
        if label and names_list(label, forms):  # "Ventajas de LoRA: …": that label's items
            items = [u for u in items if label_of(u.text) == label]
        else:  # under a "## Desventajas" heading: its list items, when it has some
            items = [u for u in items if label_of(u.text)] or items
        return _around(top, items, config.list_items)
    label = label_of(top.text)
    if label and (forms or _asks_items(question)):
        items = [u for u in selection.units if u.n == top.n and label_of(u.text) == label]
        return _around(top, items, config.list_items)
    chosen = [top]
    if config.definition_next and top.index == 0 and _asks_definition(question):
        following = next(
            (u for u in selection.units if u.n == top.n and u.index == top.index + 1), None
        )
        if following is not None and not label_of(following.text):
            return [top, following]
    second = next((u for u in selection.units[1:] if u.n == top.n), None)
    ratio = config.second_ratio
    if (
        second is not None
        and ratio is not None
        and top.score > 0
        and second.score >= ratio * top.score
    ):
        chosen.append(second)
    return sorted(chosen, key=lambda u: u.index)


def _asks_items(question: str) -> bool:
    """The looser reading of a list question ("¿cuáles son…?", "ejemplos", "¿para qué
    sirve…?"): enough to keep a labelled item's siblings with it."""
    asks = question_forms(question)
    return any(asks[i] for i, (name, _) in enumerate(QUESTION_FORMS) if name in _ITEM_FORMS)


_ITEM_FORMS = ("advantages", "drawbacks", "kinds")
_DEFINITION = [name for name, _ in QUESTION_FORMS].index("definition")


def _asks_definition(question: str) -> bool:
    return bool(question_forms(question)[_DEFINITION])


def _around(top: RankedUnit, items: list[RankedUnit], limit: int) -> list[RankedUnit]:
    """The list's items in passage order, at most ``limit`` of them around ``top``."""
    items = sorted(items, key=lambda u: u.index)
    start = next((i for i, u in enumerate(items) if u is top), 0)
    first = max(0, min(start, len(items) - limit))
    return items[first : first + limit]


def quote_evidence(units: list[RankedUnit], quote: bool = False) -> str:
    """The evidence as answer text, each sentence closed by its passage's [n]. List items
    under one label are written as one list sentence, the label once. ``quote`` puts the
    notes' words in «» (an answer that is the notes' own sentence, not the model's)."""
    sentences: list[tuple[str, int]] = []
    label = ""
    for unit in units:
        this = label_of(unit.text)
        if this and this == label and sentences and sentences[-1][1] == unit.n:
            match = LABELLED.match(unit.text)
            assert match is not None  # label_of found the label
            item = match.group(2).rstrip(". ")
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
