"""A quiz over the due cards: a free-text answer graded against the card, or a multiple
choice question whose wrong options are other cards of the same kind and note.

Grading uses the answer path's support checker (``assistant.support.scorer.Checker``:
``scores(sentences, passages)``): *support* is how much of the answer the card's full text
backs (wrong claims lower it), *coverage* how much of the card's back the answer restates
(a vague answer lowers it); their harmonic mean proposes a rating. The student confirms
or changes it: the proposal is a hint, not the review.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from assistant.study.cards import Card
from assistant.study.deck import Deck
from assistant.study.records import DeckCard
from assistant.study.schedule import RatingName
from assistant.support.claims import sentence_claims
from corpus.errors import AssistantError, SettingsError
from corpus.records import content_hash
from corpus.text import fold_accents, normalize, sentences

if TYPE_CHECKING:
    from assistant.support.scorer import Checker

_ITEM_MARK = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")


class QuizError(AssistantError):
    """A quiz cannot be made as asked (no due cards, no other cards to draw options from)."""


@dataclass(frozen=True)
class GradeConfig:
    """Score thresholds of the proposed rating, measured with the e5 SupportChecker on
    answers made from the default notes' cards (``python -m eval.tune.quiz``,
    docs/results/quiz_grading.json: the whole back, its content words alone, its first
    claim, another card's back; cuts chosen on half the cards, checked on the other half).
    ``again_below`` tells another card's back from the rest with balanced accuracy 0.90 on
    the held-out half (the best tuning cut, 0.40, is within 0.02: kept). ``good_from`` 0.85
    (was 0.6) tells a first claim alone from a whole answer, 0.85 vs 0.72; ``easy_from``
    0.95 (was 0.9) tells the content words alone from the verbatim back, 0.97 vs 0.85.
    Known limit: the checker scores a jotted whole answer (content words only) like a
    partial one (median 0.57 both), so both are proposed Difícil; a proposal, which the
    student overrides. Never checked against a student's own ratings."""

    again_below: float = 0.35  # score below -> again
    good_from: float = 0.85  # [again_below, good_from) -> hard; from here -> good
    easy_from: float = 0.95  # from here -> easy (an exact or near-exact answer)

    def __post_init__(self) -> None:
        if not 0.0 <= self.again_below <= self.good_from <= self.easy_from <= 1.0:
            raise SettingsError(
                "need 0 <= again_below <= good_from <= easy_from <= 1, got "
                f"again_below={self.again_below}, good_from={self.good_from}, "
                f"easy_from={self.easy_from}"
            )

    def rating(self, score: float) -> RatingName:
        if score < self.again_below:
            return "again"
        if score < self.good_from:
            return "hard"
        return "easy" if score >= self.easy_from else "good"


@dataclass(frozen=True)
class Grade:
    rating: RatingName  # the proposal
    score: float  # harmonic mean of support and coverage, in [0, 1]
    support: float  # mean support of the answer's sentences by the card's full text
    coverage: float  # mean support of the back's sentences by the answer
    supported: bool  # the checker's own verdict on ``support``
    answer_chars: int = 0  # the answer's length when it was cut to MAX_ANSWER_CHARS, else 0

    def __post_init__(self) -> None:
        for name in ("score", "support", "coverage"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def answer_claims(text: str) -> list[str]:
    """The sentences of a text, list items one each (markers dropped)."""
    found = []
    for line in text.splitlines():
        line = _ITEM_MARK.sub("", line).strip()
        found += [s.strip() for s in sentences(line) if s.strip()] if line else []
    return found


def _same(answer: str, expected: str) -> bool:
    return fold_accents(normalize(answer)).strip(" .") == fold_accents(normalize(expected)).strip(
        " ."
    )


# As much of a written answer as is graded, like a question (AssistantConfig.
# max_question_chars): 30,000 characters took 36 s to grade and slowed every chat meanwhile.
MAX_ANSWER_CHARS = 1000


def grade_answer(
    card: Card, answer: str, checker: Checker, config: GradeConfig | None = None
) -> Grade:
    """Grade a free-text answer to ``card``; an empty answer is "again". Only its first
    MAX_ANSWER_CHARS are read (``Grade.answer_chars`` says when it was cut)."""
    config = config or GradeConfig()
    answer = answer.strip()
    if len(answer) > MAX_ANSWER_CHARS:
        cut = len(answer)
        return replace(
            grade_answer(card, answer[:MAX_ANSWER_CHARS], checker, config), answer_chars=cut
        )
    if _same(answer, card.back) and answer:  # the term of a cloze, typed exactly
        return Grade("easy", 1.0, 1.0, 1.0, True)
    claims = answer_claims(answer)
    if not claims:
        return Grade("again", 0.0, 0.0, 0.0, False)
    reference = card.full_back or card.back
    support = float(checker.scores(claims, [reference])[:, 0].mean())
    expected = answer_claims(card.back) or [card.back]
    # The answer's sentences and each of their claims as units: a back's short list item
    # is then compared with the clause that restates it, not a whole merged sentence.
    pieces = [p for c in claims for p in (c, *sentence_claims(c))]
    coverage = float(checker.scores(expected, ["\n".join(f"- {p}" for p in pieces)])[:, 0].mean())
    support, coverage = min(max(support, 0.0), 1.0), min(max(coverage, 0.0), 1.0)
    score = 2 * support * coverage / (support + coverage) if support + coverage else 0.0
    return Grade(
        rating=config.rating(score),
        score=round(score, 4),
        support=round(support, 4),
        coverage=round(coverage, 4),
        supported=bool(checker.supported(support)),
    )


@dataclass(frozen=True)
class MultipleChoice:
    card_id: str
    question: str
    options: tuple[str, ...]
    answer: int  # index of the right option in ``options``

    def __post_init__(self) -> None:
        if len(self.options) < 2:
            raise SettingsError(f"options needs >= 2 choices, got {len(self.options)}")
        if not 0 <= self.answer < len(self.options):
            raise SettingsError(f"answer must index options, got {self.answer}")
        if len({normalize(o) for o in self.options}) != len(self.options):
            raise SettingsError(f"options must be distinct, got {self.options}")


def multiple_choice(
    card: Card, pool: Iterable[Card], seed: int = 0, distractors: int = 3
) -> MultipleChoice:
    """The card's back among ``distractors`` backs of other cards of its kind: from its
    own note first (plausible wrong answers), topped up from other notes when the note
    has too few. Deterministic for a (seed, card): the same options in the same order."""
    if distractors < 1:
        raise SettingsError(f"distractors must be >= 1, got {distractors}")
    rng = random.Random(content_hash(str(seed), card.id))
    seen = {normalize(card.back)}
    same_note: list[Card] = []
    other_notes: list[Card] = []
    for other in sorted(pool, key=lambda c: c.id):  # the pool's order must not matter
        key = normalize(other.back)
        if other.kind != card.kind or other.id == card.id or key in seen:
            continue
        seen.add(key)
        (same_note if other.source == card.source else other_notes).append(other)
    chosen = rng.sample(same_note, min(distractors, len(same_note)))
    missing = distractors - len(chosen)
    if missing > 0:
        chosen += rng.sample(other_notes, min(missing, len(other_notes)))
    if not chosen:
        raise QuizError(
            f"No hay otras tarjetas de tipo {card.kind!r} para sacar opciones de la tarjeta "
            f"{card.id}; responde por escrito"
        )
    options = [card.back] + [other.back for other in chosen]
    order = list(range(len(options)))
    rng.shuffle(order)
    return MultipleChoice(
        card_id=card.id,
        question=card.front,
        options=tuple(options[i] for i in order),
        answer=order.index(0),
    )


def choice_rating(choice: MultipleChoice, picked: int) -> RatingName:
    """The rating proposed for a pick: Good when right (recognizing the answer among four
    is easier than recalling it, so never Easy), Again when wrong."""
    if not 0 <= picked < len(choice.options):
        raise SettingsError(f"picked must index the options, got {picked}")
    return "good" if picked == choice.answer else "again"


def session(deck: Deck, size: int = 10, now: datetime | None = None) -> list[DeckCard]:
    """The next ``size`` due cards (Deck.due's order); QuizError when nothing is due."""
    if size < 1:
        raise SettingsError(f"size must be >= 1, got {size}")
    due = deck.due(now, limit=size)
    if not due:
        raise QuizError(f"No hay tarjetas pendientes en el mazo {deck.path}: vuelve más tarde")
    return due
