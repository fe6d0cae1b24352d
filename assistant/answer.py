"""The main path: question -> retrieve -> prompt -> generate -> citations and support.

``Assistant.stream()`` yields the answer text as it is generated and finally the checked
``Answer``; ``Assistant.answer()`` returns just the ``Answer``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

from assistant.abstain import AbstentionConfig, retrieval_confidence
from assistant.citations import (
    Citation,
    cited_numbers,
    map_citations,
    split_sentences,
    strip_citations,
)
from assistant.conversation import Turn, resolve_query
from assistant.errors import AssistantError
from assistant.generators.base import GenerationConfig, Generator
from assistant.prompts import (
    ABSTAIN,
    ExamplePool,
    Strategy,
    build_prompt,
    parse_strategy,
    withhold_instructions,
)
from corpus.records import Hit
from eval.questions import normalize
from index.store import NotesIndex


class Checker(Protocol):
    def scores(self, sentences: list[str], passages: list[str]) -> np.ndarray: ...
    def supported(self, score: float) -> bool: ...


@dataclass(frozen=True)
class AssistantConfig:
    strategy: str = "zero-shot"
    passages: int = 3  # recall@3 of the retriever is 0.96; each passage costs prefill time
    seed: int = 0  # draws the few-shot examples
    max_question_chars: int = 1000
    # The model's own abstention counts only when its first token has at least this
    # probability; below it the likeliest other token is taken (GenerationConfig.veto).
    # Tuned on the dev set with `python -m eval.abstain_sweep` (docs/results/
    # abstain_sweep_*.json, Gemma + LoRA zero-shot): from 0.5 to 0.9, abstention on
    # answerable questions went from 26% to 11% (held-out: 28% to 12.5%) with abstention on
    # unanswerable ones unchanged at 88%; the lowest threshold reaching the best dev F1.
    abstain_min_prob: float = 0.9
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    abstention: AbstentionConfig = field(default_factory=AbstentionConfig)

    def __post_init__(self) -> None:
        parse_strategy(self.strategy)  # raises with the bad name
        if not 1 <= self.passages <= 10:
            raise ValueError(f"passages must be in [1, 10], got {self.passages}")
        if not 0.0 <= self.abstain_min_prob <= 1.0:
            raise ValueError(f"abstain_min_prob must be in [0, 1], got {self.abstain_min_prob}")
        if self.max_question_chars < 20:
            raise ValueError(f"max_question_chars must be >= 20, got {self.max_question_chars}")


@dataclass
class SentenceCheck:
    text: str
    cited: list[int]  # valid passage numbers the sentence cites
    support: float  # against the passages it cites (0 when it cites none)
    best_support: float  # against the best of all retrieved passages
    supported: bool  # best_support reaches the checker's threshold
    invalid_citations: list[int] = field(default_factory=list)  # [n] with no passage n
    cited_support: list[float] = field(default_factory=list)  # support of each cited passage


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]  # the passages the answer cites
    sentences: list[SentenceCheck]
    strategy: str
    model: str
    adapter: str | None
    timings: dict
    query: str = ""  # what was searched (differs from the question for follow-ups)
    closest: list[Citation] = field(default_factory=list)  # shown with an abstention
    draft: str = ""  # the model's raw output
    notes: list[str] = field(default_factory=list)  # e.g. the question was truncated
    prompt: str = ""

    def to_json(self) -> dict:
        payload = asdict(self)
        payload["citations"] = [c.to_json() for c in self.citations]
        payload["closest"] = [c.to_json() for c in self.closest]
        return payload


class Assistant:
    def __init__(
        self,
        index: NotesIndex,
        generator: Generator,
        checker: Checker,
        config: AssistantConfig | None = None,
    ) -> None:
        self.index, self.generator, self.checker = index, generator, checker
        self.config = config or AssistantConfig()
        self.strategy: Strategy = parse_strategy(self.config.strategy)
        self._pool: ExamplePool | None = None

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
        question, notes = self._clean_question(question)
        query = resolve_query(question, history)
        hits = self.index.search(query, k=self.config.passages)
        retrieve_ms = (time.perf_counter() - began) * 1000
        timings = {"retrieve_ms": round(retrieve_ms, 1), "first_token_ms": None,
                   "total_ms": None, "new_tokens": 0}

        confidence = retrieval_confidence(self.index, query, hits)
        if not self.config.abstention.confident(confidence):
            if confidence.unknown_names:
                notes.append(f"tus notas no mencionan: {', '.join(confidence.unknown_names)}")
            else:
                notes.append("poca confianza en la recuperación")
            yield self._finish(self._abstain(question, query, hits, timings, notes), began)
            return

        exclude = {hit.chunk.section for hit in hits} | {section}
        examples = self.pool.draw(self.strategy.examples, self.config.seed, exclude)
        hits = self._fit_context(question, hits, examples)
        if any(withhold_instructions(hit.chunk.text)[1] for hit in hits):
            notes.append("un pasaje contenía instrucciones dirigidas al modelo; no se le mostraron")
        prompt = build_prompt(self.strategy, question, hits, examples)
        generation = GenerationConfig(**{**asdict(self.config.generation),
                                         "stop": self.strategy.stop, "veto": ABSTAIN,
                                         "veto_below": self.config.abstain_min_prob})
        pieces: list[str] = []
        for piece in self.generator.stream(prompt, generation):
            if not pieces:
                timings["first_token_ms"] = round((time.perf_counter() - began) * 1000, 1)
            pieces.append(piece)
            yield piece
        draft = "".join(pieces)
        timings["new_tokens"] = self.generator.count_tokens(draft) if draft else 0

        answer = self._check(question, query, hits, draft, timings, notes)
        answer.prompt = prompt
        yield self._finish(answer, began)

    # -- steps ------------------------------------------------------------------------

    def _clean_question(self, question: str) -> tuple[str, list[str]]:
        question = " ".join(question.split())
        if not question:
            raise AssistantError("La pregunta está vacía: escribe qué quieres saber")
        notes = []
        limit = self.config.max_question_chars
        if len(question) > limit:
            notes.append(f"la pregunta tenía {len(question)} caracteres; se usan los primeros {limit}")
            question = question[:limit]
        return question, notes

    def _fit_context(self, question: str, hits: list[Hit], examples) -> list[Hit]:
        """Drop the lowest-ranked passages until prompt + answer fit the context window."""
        budget = self.generator.context_window - self.config.generation.max_new_tokens
        while len(hits) > 1:
            prompt = build_prompt(self.strategy, question, hits, examples)
            if self.generator.count_tokens(prompt) <= budget:
                break
            hits = hits[:-1]
        return hits

    def _final_text(self, draft: str) -> str:
        """The answer part of the model's output (cot writes facts first)."""
        if self.strategy.kind == "cot" and "Respuesta:" in draft:
            return draft.rsplit("Respuesta:", 1)[1].strip()
        return draft.strip()

    def _check(self, question, query, hits, draft, timings, notes) -> Answer:
        text = self._final_text(draft)
        if not text or normalize(ABSTAIN).rstrip(".") in normalize(text):
            return self._abstain(question, query, hits, timings, notes, draft)
        sentences = split_sentences(text)
        passages = [hit.chunk.text for hit in hits]
        plain = [strip_citations(s) for s in sentences]
        scores = self.checker.scores(plain, passages) if sentences else np.zeros((0, len(hits)))
        checks = []
        for i, sentence in enumerate(sentences):
            valid, invalid = map_citations(cited_numbers(sentence), hits)
            support = max((float(scores[i, n - 1]) for n in valid), default=0.0)
            best = float(scores[i].max()) if len(hits) else 0.0
            checks.append(SentenceCheck(
                plain[i], valid, round(support, 4), round(best, 4), self.checker.supported(best),
                invalid, [round(float(scores[i, n - 1]), 4) for n in valid],
            ))
        if not any(c.best_support >= self.config.abstention.min_answer_support for c in checks):
            notes.append("ninguna frase del borrador está respaldada por las notas")
            return self._abstain(question, query, hits, timings, notes, draft)
        cited = sorted({n for check in checks for n in check.cited})
        return Answer(
            question=question, answer=text, abstained=False,
            citations=[Citation.from_hit(n, hits[n - 1]) for n in cited],
            sentences=checks, strategy=self.strategy.name, model=self.generator.name,
            adapter=self.generator.adapter, timings=timings, query=query,
            closest=[], draft=draft, notes=notes,
        )

    def _abstain(self, question, query, hits, timings, notes, draft: str = "") -> Answer:
        return Answer(
            question=question, answer=ABSTAIN, abstained=True, citations=[], sentences=[],
            strategy=self.strategy.name, model=self.generator.name,
            adapter=self.generator.adapter, timings=timings, query=query,
            closest=[Citation.from_hit(n, hit) for n, hit in enumerate(hits, start=1)],
            draft=draft, notes=notes,
        )

    @staticmethod
    def _finish(answer: Answer, began: float) -> Answer:
        answer.timings["total_ms"] = round((time.perf_counter() - began) * 1000, 1)
        return answer
