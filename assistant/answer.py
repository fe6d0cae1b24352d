"""The main path: question -> retrieve -> select the evidence -> write from it -> check.

1. Retrieve the top passages (``index``).
2. Select: the evidence selector (``assistant/selection``) ranks every unit of those
   passages (and, for a list question, of the notes' sections named for the list) (sentences, list items with their label, table cells) and gives a no-answer
   score; the evidence is the best unit, or the list it belongs to, or the best two units
   of one passage (``selection.evidence``).
3. Write: the chat model reads the question and the evidence units only, each under its
   passage's number and heading, and writes one or two sentences (``zero-shot``,
   ``few-shot:k``, ``cot``); ``extractive`` answers with the evidence itself, and so do
   the writing strategies for the forms they do not write (``EvidenceConfig.
   written_forms``: a list question gets the items, a "¿qué es…?" the notes' definition
   with its subject).
4. Check: each sentence cites the passage of the evidence unit that supports it best, by
   construction, and is checked against that unit; a draft none of whose sentences the
   evidence supports is replaced by the evidence, quoted.

Abstention is one ``AbstentionPolicy`` (assistant/abstain.py): the retrieval gate before
selecting, the selector's no-answer score after it, and the writer's veto while writing.
The evidence is part of every answer (``Answer.evidence``): the student can always see the
exact sentence an answer rests on, however the model words it.

``Assistant.stream()`` yields the answer text as it is generated and finally the checked
``Answer``; ``Assistant.answer()`` returns just the ``Answer``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import cast

import numpy as np

from assistant.abstain import AbstentionPolicy, RetrievalConfidence, retrieval_confidence
from assistant.citations import Citation, split_sentences, strip_citations
from assistant.conversation import Turn, resolve_query, resolve_question
from assistant.generators.base import GenerationConfig, Generator
from assistant.grounding import SentenceCheck, claim_text, evidence_spans
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
from assistant.selection import RankedUnit, Selection, Selector, get_selector
from assistant.selection.evidence import (
    EvidenceConfig,
    answer_form,
    choose_evidence,
    quote_evidence,
)
from assistant.selection.lists import prefer_named, sibling_hits
from assistant.settings import ChatSettings
from assistant.support import Checker, SupportChecker, sentence_claims
from corpus.errors import AssistantError, SettingsError
from corpus.markdown import split_tags
from corpus.records import Hit
from index.store import NotesIndex

__all__ = ["Answer", "Assistant", "AssistantConfig", "Checker", "SentenceCheck", "Timings"]

# Remarks the last gate adds; the app folds them into one line (assistant/web/answer_html.py).
WITHDRAWN = "ninguna frase del borrador está respaldada por las notas"
QUOTED_INSTEAD = "se muestra la frase de tus notas que mejor responde"
EVIDENCE_LABEL = "En tus notas"  # opens the evidence line under an answer (CLI, chat)


@dataclass(frozen=True)
class AssistantConfig:
    strategy: str = ChatSettings.strategy
    passages: int = ChatSettings.passages
    seed: int = 0  # draws the few-shot examples
    max_question_chars: int = 1000
    selector: str = "blend"  # assistant.selection.SELECTORS (docs/RESULTS.md, issue 22)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    abstention: AbstentionPolicy = field(default_factory=AbstentionPolicy)

    def __post_init__(self) -> None:
        parse_strategy(self.strategy)  # raises with the bad name
        if not 1 <= self.passages <= 10:
            raise SettingsError(f"passages must be in [1, 10], got {self.passages}")
        if self.max_question_chars < 20:
            raise SettingsError(f"max_question_chars must be >= 20, got {self.max_question_chars}")
        from assistant.selection import SELECTORS

        if self.selector not in SELECTORS:
            raise SettingsError(
                f"selector must be one of {sorted(SELECTORS)}, got {self.selector!r}"
            )


def require_question(question: str | None) -> str:
    """The question with its whitespace collapsed; AssistantError when nothing is left.
    The one check of an empty question: the CLI and the app call it before any work."""
    question = " ".join((question or "").split())
    if not question:
        raise AssistantError("La pregunta está vacía: escribe qué quieres saber")
    return question


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
    evidence: list[RankedUnit] = field(default_factory=list)  # the units it rests on
    no_answer: float | None = None  # the selector's score (None: never selected)

    def to_json(self) -> dict:
        payload = asdict(self)
        payload["citations"] = [c.to_json() for c in self.citations]
        payload["closest"] = [c.to_json() for c in self.closest]
        payload["evidence"] = [unit.to_json() for unit in self.evidence]
        return payload


@dataclass
class _Pass:
    """One pass down the main path for one question (not a conversation's turn,
    ``conversation.Turn``): what its steps share, filled in as it goes."""

    question: str
    query: str  # what was searched
    asked: str  # what the model reads
    hits: list[Hit]
    remarks: list[str]
    began: float  # time.perf_counter() when the question arrived
    retrieve_ms: float
    confidence: RetrievalConfidence | None = None
    selection: Selection | None = None
    evidence: list[RankedUnit] = field(default_factory=list)
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
        generator: Generator | None,
        checker: Checker,
        config: AssistantConfig | None = None,
        selector: Selector | None = None,
    ) -> None:
        """``generator`` may be None for the extractive strategy, which generates nothing;
        ``selector`` defaults to the configured one over the checker's unit vectors."""
        self.index, self.generator, self.checker = index, generator, checker
        self.config = config or AssistantConfig()
        self.strategy: Strategy = parse_strategy(self.config.strategy)
        if generator is None and self.strategy.generates:
            raise AssistantError(f"La estrategia {self.strategy.name} necesita un modelo")
        self.selector = selector or get_selector(self.config.selector, self._unit_vectors)
        self.policy = self.config.abstention
        self._pool: ExamplePool | None = None

    def _unit_vectors(self, units: list[str]) -> np.ndarray:
        """Unit vectors in the query vector's space: the checker's cached ones when the
        checker embeds with the index's embedder, else the index's own embedder (an index
        built with another model, or a checker without one, as in the tests)."""
        embedder = getattr(self.checker, "embedder", None)
        if embedder is not None and embedder.name == self.index.config.embedder:
            # cast: a checker with an embedder is a SupportChecker (its unit vectors cache).
            return cast(SupportChecker, self.checker).unit_vectors(units)
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

    def answer(
        self, question: str, history: list[Turn] | tuple[Turn, ...] = (), section: str = ""
    ) -> Answer:
        for event in self.stream(question, history, section):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() ended without an Answer")

    def stream(
        self, question: str, history: list[Turn] | tuple[Turn, ...] = (), section: str = ""
    ) -> Iterator[str | Answer]:
        """Yield text pieces as they are generated, then the checked Answer.

        ``section``: the question's own source section when known (evaluation); few-shot
        examples never come from it.
        """
        began = time.perf_counter()
        question, tags = split_tags(question)
        question, remarks = self._clean_question(question)
        query = resolve_query(question, history)
        hits = self.index.search(query, k=self.config.passages, tags=tags)
        current = _Pass(
            question,
            query,
            resolve_question(question, history),
            hits,
            remarks,
            began,
            retrieve_ms=round((time.perf_counter() - began) * 1000, 1),
        )

        if tags and not hits:  # no note has those tags: nothing to answer from
            shown = ", ".join(f"#{tag}" for tag in tags)
            remarks.append(f"ninguna nota tiene la etiqueta {shown}")
            yield self._abstain(current)
            return
        current.confidence = retrieval_confidence(self.index, query, hits)
        reason = self.policy.before(current.confidence)
        if reason:
            remarks.append(reason)
            yield self._abstain(current)
            return

        # A list question also sees its notes' sections named for the list (lists.py).
        current.hits = hits = sibling_hits(self.index.chunks, hits, current.asked)
        vector = self.index.query_vector(query)
        current.selection = prefer_named(
            current.asked, self.selector.select(current.asked, hits, vector), hits
        )
        reason = self.policy.after_selection(
            current.selection.no_answer, current.confidence.same_language
        )
        current.evidence = choose_evidence(current.asked, current.selection, self.config.evidence)
        if reason or not current.evidence:
            remarks.append(reason or "los pasajes no tienen frases que citar")
            yield self._abstain(current)
            return

        writes = self.strategy.generates and (
            answer_form(current.asked) in self.config.evidence.written_forms
        )
        yield from (self._write(current, section) if writes else self._quote(current))
        yield self._check(current)

    # -- steps ------------------------------------------------------------------------

    def _quote(self, current: _Pass) -> Iterator[str]:
        """The extractive strategy: the evidence itself, cited; no model."""
        current.draft = quote_evidence(current.evidence)
        current.mark_first_token()
        yield current.draft

    def _write(self, current: _Pass, section: str) -> Iterator[str]:
        """Prompt the model with the evidence units only, under their passages' numbers
        and headings, and stream its draft."""
        assert self.generator is not None  # a strategy that writes has a model (__init__)
        exclude = {hit.chunk.section for hit in current.hits} | {section}
        examples = self.pool.draw(self.strategy.examples, self.config.seed, exclude)
        numbers = sorted({unit.n for unit in current.evidence})
        shown = [
            Hit(
                replace(
                    current.hits[n - 1].chunk,
                    text="\n".join(u.text for u in current.evidence if u.n == n),
                ),
                current.hits[n - 1].score,
            )
            for n in numbers
        ]
        if any(withhold_instructions(hit.chunk.text)[1] for hit in shown):
            current.remarks.append(
                "un pasaje contenía instrucciones dirigidas al modelo; no se le mostraron"
            )
        current.prompt = build_prompt(
            self.strategy,
            current.asked,
            shown,
            examples,
            language=detect_language(current.question),
            numbers=numbers,
        )
        generation = self.policy.generation(self.config.generation, self.strategy.stop)
        pieces: list[str] = []
        for piece in self.generator.stream(current.prompt, generation):
            if not pieces:
                current.mark_first_token()
            pieces.append(piece)
            yield piece
        current.draft = "".join(pieces)
        current.new_tokens = self.generator.count_tokens(current.draft) if current.draft else 0

    def _clean_question(self, question: str) -> tuple[str, list[str]]:
        question = require_question(question)
        remarks = []
        limit = self.config.max_question_chars
        if len(question) > limit:
            remarks.append(
                f"la pregunta tenía {len(question)} caracteres; se usan los primeros {limit}"
            )
            question = question[:limit]
        return question, remarks

    def _final_text(self, draft: str) -> str:
        """The answer part of the model's output (cot writes facts first)."""
        marker = answer_marker()
        if self.strategy.kind == "cot" and marker in draft:
            return draft.rsplit(marker, 1)[1].strip()
        return draft.strip()

    def _check(self, current: _Pass) -> Answer:
        text = self._final_text(current.draft)
        # A draft that abstains anywhere ("Lo siento. No encuentro esto…") abstains: the
        # writer's veto, already limited to confident abstentions while generating.
        if not text or any(is_abstention(s) for s in [text, *split_sentences(text)]):
            return self._abstain(current)
        checks, text = self._ground(text, current)
        quoted = False
        if self.strategy.generates and self.policy.withdraw([c.support for c in checks]):
            # The evidence supports none of the writer's sentences: show the evidence.
            current.remarks += [WITHDRAWN, QUOTED_INSTEAD]
            checks, text = self._ground(quote_evidence(current.evidence, quote=True), current)
            quoted = True
        cited = sorted({n for check in checks for n in check.cited})
        return self._answer(
            current,
            answer=text,
            abstained=False,
            citations=[Citation.from_hit(n, current.hits[n - 1]) for n in cited],
            sentences=checks,
            quoted=quoted,
        )

    def _ground(self, text: str, current: _Pass) -> tuple[list[SentenceCheck], str]:
        """Each sentence cites the passage of the evidence unit that supports it best, and
        is checked against that unit: citations by construction, whatever [n] the model
        wrote. Returns the checks and the text rewritten with those citations."""
        sentences = [strip_citations(s) for s in split_sentences(text)]
        # Each evidence unit, and the units of one passage read together: a sentence that
        # joins a definition and its contrast, or lists the items, rests on all of them.
        sources = [(unit.text, unit.n) for unit in current.evidence]
        for n in sorted({unit.n for unit in current.evidence}):
            together = [unit.text for unit in current.evidence if unit.n == n]
            if len(together) > 1:
                sources.append((" ".join(together), n))
        claims = [claim_text(s, current.asked) for s in sentences]
        # A sentence of several claims is also read claim by claim (by a checker with a
        # ``claim_threshold``): it is supported only when every claim is.
        cut = self.checker.claim_threshold
        parts = [sentence_claims(s) if cut is not None else [] for s in sentences]
        texts = [source for source, _ in sources]
        every = claims + [c for group in parts for c in group]
        scores = self.checker.scores(every, texts) if sentences else np.zeros((0, len(texts)))
        checks, offset = [], len(claims)
        for sentence, row, group in zip(sentences, scores, parts):
            best = int(np.argmax(row))
            support = round(float(row[best]), 4)
            claim_scores = scores[offset : offset + len(group), best]
            offset += len(group)
            unbacked = [c for c, v in zip(group, claim_scores) if v < cut]
            checks.append(
                SentenceCheck(
                    text=sentence,
                    cited=[sources[best][1]],
                    support=support,
                    best_support=support,
                    supported=self.checker.supported(support) and not unbacked,
                    cited_support=[support],
                    unsupported_claims=unbacked,
                )
            )
        # The sentence of its passage that backs each one, scored for the same claim text:
        # what the app highlights and ``ask --json`` reports, computed here once.
        passages = {n: current.hits[n - 1].chunk.text for c in checks for n in c.cited}
        spans = evidence_spans(
            [c.cited for c in checks], passages, lambda texts: self.checker.scores(claims, texts)
        )
        for check, found in zip(checks, spans):
            check.evidence = found
        rewritten = " ".join(f"{c.text} [{c.cited[0]}]" for c in checks)
        return checks, rewritten

    def _abstain(self, current: _Pass) -> Answer:
        closest = [Citation.from_hit(n, hit) for n, hit in enumerate(current.hits, start=1)]
        return self._answer(
            current,
            answer=ABSTAIN,
            abstained=True,
            citations=[],
            sentences=[],
            closest=closest,
            evidence=[],
        )

    def _answer(self, current: _Pass, **fields) -> Answer:
        """The Answer of this current, its total time taken now."""
        return Answer(
            question=current.question,
            strategy=self.strategy.name,
            model=self.model_name,
            adapter=self.adapter_name,
            timings=current.timings(),
            query=current.query,
            draft=current.draft,
            remarks=current.remarks,
            prompt=current.prompt,
            asked=current.asked,
            no_answer=current.selection.no_answer if current.selection else None,
            **{"evidence": current.evidence, **fields},
        )
