"""A quiz over the due cards: a free-text answer graded against the card, or a multiple
choice question whose wrong options are the backs of the same kind nearest to its own (e5
similarity, ``BackVectors``; a cloze's term compared in its sentence), from other sections.

Grading uses the answer path's support checker (``assistant.support.scorer.Checker``:
``scores(sentences, passages)``): *support* is how much of the answer the card's full text
backs (wrong claims lower it), *coverage* how much of the card's back the answer restates
(a vague answer lowers it). The grader (``study.grading``) reads them with the answer's
word stems against the back's and proposes a rating from P(right) and P(whole). The
student confirms or changes it: the proposal is a hint, not the review.
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

import numpy as np

from assistant.study.cards import Card
from assistant.study.deck import Deck
from assistant.study.grading import GradeModel, GradingChecker, measure_answer, shipped_model
from assistant.study.records import DeckCard
from assistant.study.rules import BLANK
from assistant.study.schedule import RatingName
from corpus.errors import AssistantError, SettingsError
from corpus.paths import default_cache_dir
from corpus.records import content_hash
from corpus.text import fold_accents, normalize, sentences
from index.cache import EmbeddingCache, embedding_key

log = logging.getLogger(__name__)

_ITEM_MARK = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")


class QuizError(AssistantError):
    """A quiz cannot be made as asked (no due cards, no other cards to draw options from)."""


@dataclass(frozen=True)
class GradeConfig:
    """Cuts of the proposed rating. ``again_below`` and ``good_right`` are on P(right),
    ``good_from`` on P(right and whole), both probabilities from the grader
    (``study.grading``); ``easy_from`` is on the answer's overlap with the back
    (``AnswerMeasures.overlap``: 1.0 verbatim), so Fácil stays for an exact or near-exact
    answer and a whole answer in other words is Bien. ``good_right`` is chosen by
    ``python -m assistant.study.grade_fit`` on its cards, by card out of fold: the
    balanced accuracy of "Bien or better" against the answers that deserve it is flat from
    0.5 to 0.85 (0.94-0.95), and the highest cut within 0.005 of the best is kept, the
    one that calls fewest wrong answers Bien (its report, in the model file).
    ``easy_from`` 0.95 tells the content words alone from the verbatim back (0.97 vs 0.85,
    ``python -m eval.tune.quiz``). Never checked against a student's own ratings."""

    again_below: float = 0.5  # P(right) below -> again
    good_from: float = 0.5  # P(right and whole) from here, and P(right) from good_right -> good
    good_right: float = 0.8
    easy_from: float = 0.95  # good and overlap from here -> easy

    def __post_init__(self) -> None:
        for name in ("again_below", "good_from", "good_right", "easy_from"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingsError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def rating(self, right: float, whole: float, overlap: float) -> RatingName:
        """The rating proposed for P(right) ``right``, P(right and whole) ``whole`` and
        the overlap with the back."""
        if right < self.again_below:
            return "again"
        if whole < self.good_from or right < self.good_right:
            return "hard"
        return "easy" if overlap >= self.easy_from else "good"


@dataclass(frozen=True)
class Grade:
    rating: RatingName  # the proposal
    score: float  # P(the answer is right and whole), in [0, 1]
    support: float  # mean support of the answer's sentences by the card's full text
    coverage: float  # mean support of the back's sentences by the answer
    supported: bool  # P(right) reaches GradeConfig.again_below (else the page warns)
    answer_chars: int = 0  # the answer's length when it was cut to MAX_ANSWER_CHARS, else 0
    right: float = 0.0  # P(what the answer says is right)

    def __post_init__(self) -> None:
        for name in ("score", "support", "coverage", "right"):
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
    card: Card,
    answer: str,
    checker: GradingChecker,
    config: GradeConfig | None = None,
    model: GradeModel | None = None,
) -> Grade:
    """Grade a free-text answer to ``card`` with ``model`` (default: the shipped grader);
    an empty answer is "again". Only its first MAX_ANSWER_CHARS are read
    (``Grade.answer_chars`` says when it was cut)."""
    config = config or GradeConfig()
    answer = answer.strip()
    if len(answer) > MAX_ANSWER_CHARS:
        cut = len(answer)
        return replace(
            grade_answer(card, answer[:MAX_ANSWER_CHARS], checker, config, model),
            answer_chars=cut,
        )
    if _same(answer, card.back) and answer:  # the term of a cloze, typed exactly
        return Grade("easy", 1.0, 1.0, 1.0, True, right=1.0)
    claims = answer_claims(answer)
    if not claims:
        return Grade("again", 0.0, 0.0, 0.0, False)
    expected = answer_claims(card.back) or [card.back]
    measures = measure_answer(card, claims, expected, checker)
    right, whole = (model or shipped_model()).probabilities(measures)
    score = right * whole
    return Grade(
        rating=config.rating(right, score, measures.overlap),
        score=round(score, 4),
        support=round(measures.support, 4),
        coverage=round(measures.coverage, 4),
        supported=right >= config.again_below,
        right=round(right, 4),
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
