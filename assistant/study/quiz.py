"""A quiz over the due cards: a free-text answer graded against the card, or a multiple
choice question whose wrong options are the backs of the same kind nearest to its own (e5
similarity, ``BackVectors``; a cloze's term compared in its sentence), from other sections.

Grading uses the answer path's support checker (``assistant.support.scorer.Checker``:
``scores(sentences, passages)``): *support* is how much of the answer the card's full text
backs (wrong claims lower it), *coverage* how much of the card's back the answer restates
(a vague answer lowers it); their harmonic mean proposes a rating. The student confirms
or changes it: the proposal is a hint, not the review.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.study.cards import Card
from assistant.study.deck import Deck
from assistant.study.records import DeckCard
from assistant.study.rules import BLANK
from assistant.study.schedule import RatingName
from assistant.support.claims import sentence_claims
from corpus.errors import AssistantError, SettingsError
from corpus.paths import default_cache_dir
from corpus.records import content_hash
from corpus.text import fold_accents, normalize, sentences
from index.cache import EmbeddingCache, embedding_key

if TYPE_CHECKING:
    from assistant.support.scorer import Checker

log = logging.getLogger(__name__)

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


# A back at least this close to the right one (e5 cosine) says the same in other words: the
# notes ask some questions twice ("¿Qué es el encoder?"; the pre-training paradigm three
# times). In the default notes, the qa pairs above it are such repeats but two (the
# classification and NER recipes, 0.953; the Transformer overview and the encoder, 0.953),
# and so are the cloze pairs ("modelo de lenguaje" / "... generativo", 0.968).
SAME_ANSWER = 0.95


class BackVectors:
    """Vectors of card backs by an embedder of the registry (``index.embedders``), each
    text embedded once: kept in memory and on disk (``EmbeddingCache``
    "<embedder>.card-backs" in the cache folder). A deck's first multiple choice embeds
    the backs of that card's kind (the default notes' 83 qa backs: ~12 s with e5 on 2
    cores; a cloze's terms and their sentences too), the next ones none."""

    def __init__(self, embedder: str = "e5-small", cache_dir: Path | None = None) -> None:
        self.embedder = embedder
        self._cache_dir = cache_dir
        self._disk: EmbeddingCache | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()  # the app's sessions ask from several threads

    def __call__(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalized (inner product = cosine)."""
        from index.embedders import get_embedder

        keys = [embedding_key(self.embedder, text) for text in texts]
        with self._lock:
            missing = [k for k in dict.fromkeys(keys) if k not in self._vectors]
            if missing:
                if self._disk is None:
                    root = self._cache_dir or default_cache_dir()
                    self._disk = EmbeddingCache(root, f"{self.embedder}.card-backs")
                self._vectors.update(self._disk.get_many(missing))
                todo = {k: t for k, t in zip(keys, texts) if k not in self._vectors}
                if todo:
                    fresh = get_embedder(self.embedder).embed_passages(list(todo.values()))
                    new = dict(zip(todo, np.asarray(fresh, dtype=np.float32)))
                    self._vectors.update(new)
                    self._disk.put_many(new)
                    try:
                        self._disk.save()
                    except OSError as err:  # a read-only cache only costs embedding again
                        log.warning(
                            "could not save card-back vectors to %s: %s", self._disk.path, err
                        )
            return np.vstack([self._vectors[k] for k in keys])


_SHARED: dict[str, BackVectors] = {}
_SHARED_LOCK = threading.Lock()


def back_vectors(embedder: str = "e5-small") -> BackVectors:
    """The process-wide ``BackVectors`` of ``embedder``."""
    with _SHARED_LOCK:
        return _SHARED.setdefault(embedder, BackVectors(embedder))


def _mentions(text: str, term: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text) is not None


_QUESTION = re.compile(r"¿[^?]*\?")
_FILLER = re.compile(r"\b(?:el|la|los|las|un|una|unos|unas)\b|[^\w\s-]")


def questions(front: str) -> set[str]:
    """The questions a front asks, each folded (case, accents, articles, punctuation):
    "¿Qué es el *pre-training*? ¿Qué relación…?" -> {"que es pre-training", …}."""
    asked = _QUESTION.findall(front) or [front]
    return {" ".join(_FILLER.sub(" ", fold_accents(normalize(q))).split()) for q in asked}


def distractor_candidates(card: Card, pool: Iterable[Card]) -> list[Card]:
    """The cards whose back may be a wrong option for ``card``: of its kind, from another
    section, with a back of their own (the first by id of equal backs), and not another
    right answer: not a card asking one of the same questions (the notes ask "¿Qué es
    pre-training?" and, later, "¿Qué es el pre-training? ¿Qué relación…?"), not a back
    the card's front already says (a cloze's "Transformer" in "El [...] es una parte de
    la arquitectura Transformer"), not a back inside the right one or around it (a
    broader or narrower name: "modelo de lenguaje" / "modelo de lenguaje unidireccional")."""
    front, answer, asked = normalize(card.front), normalize(card.back), questions(card.front)
    seen = {answer}
    found = []
    for other in sorted(pool, key=lambda c: c.id):  # the pool's order must not matter
        key = normalize(other.back)
        if (
            other.kind != card.kind
            or other.id == card.id
            or (other.source, other.heading) == (card.source, card.heading)
            or key in seen
            or asked & questions(other.front)
            or _mentions(front, key)
            or _mentions(key, answer)
            or _mentions(answer, key)
        ):
            continue
        seen.add(key)
        found.append(other)
    return found


def compared_text(card: Card) -> str:
    """What a card's back is compared by to choose distractors: the back itself, but a
    cloze's term in its sentence (the front with the blank filled; ``full_back`` when an
    edited front has no blank). e5's similarity between two bare terms follows their
    surface form ("modelo grande" nearest "modelo de lenguaje" and "modelo n-gram", "LoRA"
    nearest "RAG"); between their sentences it follows the subject ("modelo grande" nearest
    "técnica común", "AutoDistil": distillation). On the default notes' 41 cloze cards,
    distractors from the card's topic 14/123 -> 60/123 (eval/bench/distractors.py,
    ``cloze_context``); the section's text measured 73/123 there but fewer on the bench's
    own cards, and a card does not carry it."""
    if card.kind != "cloze":
        return card.back
    if BLANK in card.front:
        return card.front.replace(BLANK, card.back)
    return card.full_back or card.back


def nearest_distractors(
    card: Card,
    pool: Iterable[Card],
    backs: BackVectors,
    count: int = 3,
    text: Callable[[Card], str] = compared_text,
) -> list[tuple[Card, float]]:
    """The ``count`` candidates (``distractor_candidates``) whose ``text`` is nearest to
    the card's, with that cosine: none whose back itself is at SAME_ANSWER or above, one
    per question (the two "¿Qué es el encoder?" backs would be two answers to one other
    question). Ties go by id."""
    candidates = distractor_candidates(card, pool)
    if not candidates:
        return []
    vectors = backs([card.back, *(other.back for other in candidates)])
    same_answer = vectors[1:] @ vectors[0] >= SAME_ANSWER  # the backs, not their contexts
    texts = [text(card), *(text(other) for other in candidates)]
    if texts != [card.back, *(other.back for other in candidates)]:
        vectors = backs(texts)
    similarity = vectors[1:] @ vectors[0]
    ranked = sorted(range(len(candidates)), key=lambda i: (-float(similarity[i]), candidates[i].id))
    chosen: list[tuple[Card, float]] = []
    asked: set[str] = set()
    for i in ranked:
        other = candidates[i]
        if same_answer[i] or asked & questions(other.front):
            continue
        chosen.append((other, float(similarity[i])))
        asked |= questions(other.front)
        if len(chosen) == count:
            break
    return chosen


def multiple_choice(
    card: Card,
    pool: Iterable[Card],
    seed: int = 0,
    distractors: int = 3,
    backs: BackVectors | None = None,
) -> MultipleChoice:
    """The card's back among the ``distractors`` backs nearest to it (``nearest_
    distractors``: a cloze's term compared in its sentence; ``backs`` defaults to e5's,
    process-wide): wrong answers on the same subject, which only knowing the answer tells
    apart (issue 28: drawn at random from the note, they were often on another subject
    and easy to rule out). Deterministic: the same options for a card and pool, in an
    order ``seed`` shuffles."""
    if distractors < 1:
        raise SettingsError(f"distractors must be >= 1, got {distractors}")
    chosen = [
        other for other, _ in nearest_distractors(card, pool, backs or back_vectors(), distractors)
    ]
    if not chosen:
        raise QuizError(
            f"No hay otras tarjetas de tipo {card.kind!r} para sacar opciones de la tarjeta "
            f"{card.id}; responde por escrito"
        )
    rng = random.Random(content_hash(str(seed), card.id))
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
