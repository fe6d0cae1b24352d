"""The main path: question -> retrieve -> prompt -> generate -> citations and support.

Abstention is decided by one ``AbstentionPolicy`` (assistant/abstain.py) before, during and
after generation; citations are repaired against the support of each passage
(assistant/grounding.py); ``--strategy extractive`` quotes instead of generating
(assistant/reader.py), and is also what a withdrawn draft falls back to when retrieval is
confident.

``Assistant.stream()`` yields the answer text as it is generated and finally the checked
``Answer``; ``Assistant.answer()`` returns just the ``Answer``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from assistant.abstain import AbstentionPolicy, RetrievalConfidence, retrieval_confidence
from assistant.citations import Citation, split_sentences, strip_citations
from assistant.conversation import Turn, resolve_query, resolve_question
from assistant.generators.base import GenerationConfig, Generator
from assistant.grounding import SentenceCheck, claim_text, ground, rewrite
from assistant.language import detect_language
from assistant.prompts import (
    ABSTAIN,
    ExamplePool,
    Strategy,
    answer_marker,
    build_prompt,
    is_abstention,
    parse_strategy,
    withhold_instructions,
)
from assistant.reader import ExtractiveReader
from assistant.support import Checker
from corpus.errors import AssistantError, SettingsError
from corpus.records import Hit
from index.store import NotesIndex

__all__ = ["Answer", "Assistant", "AssistantConfig", "Checker", "SentenceCheck", "Timings"]

# Remarks the last gate adds; the app folds them into one line (assistant/answer_html.py).
WITHDRAWN = "ninguna frase del borrador está respaldada por las notas"
QUOTED_INSTEAD = "se muestra la frase de tus notas que mejor responde"


@dataclass(frozen=True)
class AssistantConfig:
    strategy: str = "zero-shot"
    passages: int = 3  # recall@3 of the retriever is 0.96; each passage costs prefill time
    seed: int = 0  # draws the few-shot examples
    max_question_chars: int = 1000
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    abstention: AbstentionPolicy = field(default_factory=AbstentionPolicy)

    def __post_init__(self) -> None:
        parse_strategy(self.strategy)  # raises with the bad name
        if not 1 <= self.passages <= 10:
            raise SettingsError(f"passages must be in [1, 10], got {self.passages}")
        if self.max_question_chars < 20:
            raise SettingsError(f"max_question_chars must be >= 20, got {self.max_question_chars}")


@dataclass(frozen=True)
class Timings:
    """Milliseconds since the question arrived, measured by the main path."""

    retrieve_ms: float
    first_token_ms: float | None = None  # None when nothing was generated or quoted
    total_ms: float | None = None
    new_tokens: int = 0


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]  # the passages the answer cites
    sentences: list[SentenceCheck]
    strategy: str
    model: str
    adapter: str | None
    timings: Timings
    query: str = ""  # what was searched (differs from the question for follow-ups)
    closest: list[Citation] = field(default_factory=list)  # shown with an abstention
    draft: str = ""  # the model's raw output
    remarks: list[str] = field(default_factory=list)  # for the student: e.g. the question was cut
    prompt: str = ""
    quoted: bool = False  # the answer is the notes' own sentence (a withdrawn draft's fallback)
    asked: str = ""  # the question as the model read it (a follow-up gets its subject)

    def to_json(self) -> dict:
        payload = asdict(self)
        payload["citations"] = [c.to_json() for c in self.citations]
        payload["closest"] = [c.to_json() for c in self.closest]
        return payload


@dataclass
class _Turn:
    """What the steps of one answer share, filled in as the main path goes."""

    question: str
    query: str  # what was searched
    asked: str  # what the model reads
    hits: list[Hit]
    remarks: list[str]
    began: float  # time.perf_counter() when the question arrived
    retrieve_ms: float
    confidence: RetrievalConfidence | None = None
    prompt: str = ""
    draft: str = ""
    first_token_ms: float | None = None
    new_tokens: int = 0

    def mark_first_token(self) -> None:
        self.first_token_ms = round((time.perf_counter() - self.began) * 1000, 1)

    def timings(self) -> Timings:
        total = round((time.perf_counter() - self.began) * 1000, 1)
        return Timings(self.retrieve_ms, self.first_token_ms, total, self.new_tokens)


class Assistant:
    def __init__(
        self,
        index: NotesIndex,
        generator: Generator,
        checker: Checker,
        config: AssistantConfig | None = None,
        reader: ExtractiveReader | None = None,
    ) -> None:
        """``generator`` may be None for the extractive strategy, which generates nothing."""
        self.index, self.generator, self.checker = index, generator, checker
        self.config = config or AssistantConfig()
        self.strategy: Strategy = parse_strategy(self.config.strategy)
        if generator is None and self.strategy.generates:
            raise AssistantError(f"La estrategia {self.strategy.name} necesita un modelo")
        self.reader = reader or ExtractiveReader(self._unit_vectors)
        self.policy = self.config.abstention
        self._pool: ExamplePool | None = None

    def _unit_vectors(self, units: list[str]) -> np.ndarray:
        """The checker's cached unit embeddings when it has them, else the index's own
        embedder (a checker without a model, as in the tests)."""
        if hasattr(self.checker, "unit_vectors"):
            return self.checker.unit_vectors(units)
        from index.embedders import get_embedder

        return np.asarray(get_embedder(self.index.config.embedder).embed_passages(units))

    @property
    def model_name(self) -> str:
        return self.generator.name if self.generator is not None else "extractive"

    @property
    def adapter_name(self) -> str | None:
        return self.generator.adapter if self.generator is not None else None

    @property
    def pool(self) -> ExamplePool:
        if self._pool is None:
            self._pool = ExamplePool.from_chunks(self.index.chunks, seed=self.config.seed)
        return self._pool

    def answer(self, question: str, history: list[Turn] = (), section: str = "") -> Answer:
        for event in self.stream(question, history, section):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() ended without an Answer")

    def stream(
        self, question: str, history: list[Turn] = (), section: str = ""
    ) -> Iterator[str | Answer]:
        """Yield text pieces as they are generated, then the checked Answer.

        ``section``: the question's own source section when known (evaluation); few-shot
        examples never come from it.
        """
        began = time.perf_counter()
        question, remarks = self._clean_question(question)
        query = resolve_query(question, history)
        hits = self.index.search(query, k=self.config.passages)
        turn = _Turn(
            question,
            query,
            resolve_question(question, history),
            hits,
            remarks,
            began,
            retrieve_ms=round((time.perf_counter() - began) * 1000, 1),
        )

        turn.confidence = retrieval_confidence(self.index, query, hits)
        reason = self.policy.before(turn.confidence)
        if reason:
            remarks.append(reason)
            yield self._abstain(turn)
            return

        yield from (self._generate(turn, section) if self.strategy.generates else self._quote(turn))
        yield self._check(turn)

    # -- steps ------------------------------------------------------------------------

    def _quote(self, turn: _Turn) -> Iterator[str]:
        """The extractive strategy: the passages' best sentence, cited; no model."""
        turn.draft = self.reader.draft(turn.asked, turn.hits, self.index.query_vector(turn.query))
        turn.mark_first_token()
        yield turn.draft

    def _generate(self, turn: _Turn, section: str) -> Iterator[str]:
        """Prompt the model with the passages that fit its context and stream its draft."""
        exclude = {hit.chunk.section for hit in turn.hits} | {section}
        examples = self.pool.draw(self.strategy.examples, self.config.seed, exclude)
        language = detect_language(turn.question)
        turn.hits = self._fit_context(turn.asked, turn.hits, examples, language)
        if any(withhold_instructions(hit.chunk.text)[1] for hit in turn.hits):
            turn.remarks.append(
                "un pasaje contenía instrucciones dirigidas al modelo; no se le mostraron"
            )
        turn.prompt = build_prompt(
            self.strategy, turn.asked, turn.hits, examples, language=language
        )
        generation = self.policy.generation(self.config.generation, self.strategy.stop)
        pieces: list[str] = []
        for piece in self.generator.stream(turn.prompt, generation):
            if not pieces:
                turn.mark_first_token()
            pieces.append(piece)
            yield piece
        turn.draft = "".join(pieces)
        turn.new_tokens = self.generator.count_tokens(turn.draft) if turn.draft else 0

    def _clean_question(self, question: str) -> tuple[str, list[str]]:
        question = " ".join(question.split())
        if not question:
            raise AssistantError("La pregunta está vacía: escribe qué quieres saber")
        remarks = []
        limit = self.config.max_question_chars
        if len(question) > limit:
            remarks.append(
                f"la pregunta tenía {len(question)} caracteres; se usan los primeros {limit}"
            )
            question = question[:limit]
        return question, remarks

    def _fit_context(self, question: str, hits: list[Hit], examples, language: str) -> list[Hit]:
        """Drop the lowest-ranked passages until prompt + answer fit the context window."""
        budget = self.generator.context_window - self.config.generation.max_new_tokens
        while len(hits) > 1:
            prompt = build_prompt(self.strategy, question, hits, examples, language=language)
            if self.generator.count_tokens(prompt) <= budget:
                break
            hits = hits[:-1]
        return hits

    def _final_text(self, draft: str) -> str:
        """The answer part of the model's output (cot writes facts first)."""
        marker = answer_marker()
        if self.strategy.kind == "cot" and marker in draft:
            return draft.rsplit(marker, 1)[1].strip()
        return draft.strip()

    def _check(self, turn: _Turn) -> Answer:
        text = self._final_text(turn.draft)
        # A draft that abstains anywhere ("Lo siento. No encuentro esto…") abstains.
        if not text or any(is_abstention(s) for s in [text, *split_sentences(text)]):
            return self._abstain(turn)
        checks, text = self._ground(text, turn)
        quoted = False
        if self.policy.withdraw([c.best_support for c in checks]):
            turn.remarks.append(WITHDRAWN)
            if not (self.strategy.generates and self.policy.quote_instead(turn.confidence)):
                return self._abstain(turn)
            # Retrieval is confident: quote the notes' own best sentence instead.
            turn.remarks.append(QUOTED_INSTEAD)
            vector = self.index.query_vector(turn.query)
            checks, text = self._ground(
                self.reader.draft(turn.asked, turn.hits, vector, quote=True), turn
            )
            quoted = True
        cited = sorted({n for check in checks for n in check.cited})
        return self._answer(
            turn,
            answer=text,
            abstained=False,
            citations=[Citation.from_hit(n, turn.hits[n - 1]) for n in cited],
            sentences=checks,
            quoted=quoted,
        )

    def _ground(self, text: str, turn: _Turn) -> tuple[list[SentenceCheck], str]:
        """Each sentence checked against the passages, its citations repaired; the text
        rewritten with the repaired markers."""
        sentences = split_sentences(text)
        passages = [hit.chunk.text for hit in turn.hits]
        claims = [claim_text(strip_citations(s), turn.asked) for s in sentences]
        scores = (
            self.checker.scores(claims, passages) if sentences else np.zeros((0, len(passages)))
        )
        checks, rewritten = ground(sentences, scores, self.checker.supported)
        return checks, rewrite(text, sentences, rewritten)

    def _abstain(self, turn: _Turn) -> Answer:
        closest = [Citation.from_hit(n, hit) for n, hit in enumerate(turn.hits, start=1)]
        return self._answer(
            turn, answer=ABSTAIN, abstained=True, citations=[], sentences=[], closest=closest
        )

    def _answer(self, turn: _Turn, **fields) -> Answer:
        """The Answer of this turn, its total time taken now."""
        return Answer(
            question=turn.question,
            strategy=self.strategy.name,
            model=self.model_name,
            adapter=self.adapter_name,
            timings=turn.timings(),
            query=turn.query,
            draft=turn.draft,
            remarks=turn.remarks,
            prompt=turn.prompt,
            asked=turn.asked,
            **fields,
        )
