"""Prompt strategies: templates (prompts.yaml) rendered strictly, and few-shot examples.

A strategy name is ``zero-shot``, ``few-shot[:k]`` or ``cot[:k]``; k is the number of
worked examples (few-shot defaults to 2, cot to 1: a base model needs one example to learn
the facts-then-answer format).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined

from corpus.errors import SettingsError
from corpus.markdown import plain_text
from corpus.records import Chunk, Hit
from corpus.text import strip_question_number

ABSTAIN = "No encuentro esto en tus notas."
TEMPLATES_PATH = Path(__file__).with_name("prompts.yaml")
# "extractive" generates nothing: the quoter quotes the passages' best sentence
# (assistant/quoter.py). It is the baseline every prompting strategy must beat.
STRATEGIES = ("zero-shot", "few-shot", "cot", "extractive")
DEFAULT_EXAMPLES = {"zero-shot": 0, "few-shot": 2, "cot": 1, "extractive": 0}
NO_EXAMPLES = ("zero-shot", "extractive")
# Passages in worked examples are cut short: they show the format, and every character
# costs prefill time (~1.3 ms per token here).
EXAMPLE_PASSAGE_CHARS = 280


_FOLD = str.maketrans("áéíóúüÁÉÍÓÚÜ", "aeiouuAEIOUU")
_CITATION = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")


def _abstention_form(text: str) -> str:
    return " ".join(_CITATION.sub(" ", text).translate(_FOLD).lower().replace(".", " ").split())


def is_abstention(text: str) -> bool:
    """The one test of "this text abstains", used by every stage: the abstention sentence,
    in any case or accents, with or without its full stop or a citation, alone or opening
    the text (a model that abstains and then rambles has still abstained)."""
    return _abstention_form(text).startswith(_abstention_form(ABSTAIN))


@dataclass(frozen=True)
class Strategy:
    kind: str  # one of STRATEGIES
    examples: int  # worked examples in the prompt

    @property
    def name(self) -> str:
        return self.kind if self.kind in NO_EXAMPLES else f"{self.kind}:{self.examples}"

    @property
    def generates(self) -> bool:
        return self.kind != "extractive"

    @property
    def stop(self) -> tuple[str, ...]:
        """Where a base model that keeps writing starts a new prompt block (prompts.yaml)."""
        return tuple(_templates()["stop"])


def parse_strategy(name: str) -> Strategy:
    kind, _, count = name.strip().partition(":")
    if kind not in STRATEGIES:
        raise SettingsError(f"estrategia desconocida {name!r}; usa una de {', '.join(STRATEGIES)}")
    if kind in NO_EXAMPLES and count:
        raise SettingsError(f"{kind} no lleva ejemplos")
    if count and not (count.isdigit() and 0 <= int(count) <= 8):
        raise SettingsError(f"número de ejemplos no válido en {name!r} (0-8)")
    return Strategy(kind, int(count) if count else DEFAULT_EXAMPLES[kind])


@dataclass(frozen=True)
class Example:
    """A worked example: numbered passages, a question, facts (for cot) and the answer."""

    section: str  # the section the question comes from: never shown beside that section
    question: str
    passages: tuple[tuple[str, str], ...]  # (heading, text), numbered from 1 in order
    answer: str
    facts: str = ""


@lru_cache(maxsize=1)
def _templates() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATES_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=16)
def _compiled(name: str):
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
    return env.from_string(_templates()[name])


def render(name: str, **variables) -> str:
    return _compiled(name).render(**variables)


def answer_marker() -> str:
    """The line that opens the answer after cot's facts ("Respuesta:", prompts.yaml)."""
    return _templates()["answer_marker"]


# Sentences of the notes that address the model rather than the student ("ignora las
# instrucciones anteriores…"). A 270M model obeys such text, so the sentence is withheld
# from the prompt; the rest of its paragraph, and the passage as the student sees it, stay
# as they are. The patterns want an order to the model: a verb of disobeying with what is
# disobeyed, a new role, or an order to answer only something. Notes about LLMs use the
# same nouns in statements ("El prompt del sistema es…", "El dropout actúa como
# regularizador"), so a noun alone never matches.
_INJECTION = re.compile(
    r"\b(ignor[ae]\w*|olvid[ae]\w*|desobedec\w*|omit[ae]\w*|disregard|forget|ignore)\b"
    r"[^.\n]{0,40}\b(instruc\w*|indicaciones|reglas|rules|prompt|órdenes|orders)\b"
    r"|\b(eres ahora|ahora eres|you are now|from now on|a partir de ahora)\b"
    r"|\b(responde|contesta|di|escribe|answer|reply|respond|say)\b[^.\n]{0,30}"
    r"\b(solo|solamente|únicamente|only)\b[^.\n]{0,20}\b(con|with|la palabra|the word)\b",
    re.IGNORECASE,
)
# Characters that render as nothing, used to split a trigger word ("Ig\u200bnora").
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
WITHHELD = "[frase omitida: parecía una instrucción para el modelo]"


def is_instruction(sentence: str) -> bool:
    """Whether a sentence of the notes reads as an order to the model."""
    return bool(_INJECTION.search(unicodedata.normalize("NFKC", sentence.translate(_INVISIBLE))))


def withhold_instructions(text: str) -> tuple[str, int]:
    """The text with each instruction-like sentence replaced, and how many were."""
    from corpus.text import sentences

    withheld = 0
    lines = []
    for line in text.splitlines():
        if not is_instruction(line):  # the common case: nothing to cut
            lines.append(line)
            continue
        kept = []
        for sentence in sentences(line):
            if is_instruction(sentence):
                kept.append(WITHHELD)
                withheld += 1
            else:
                kept.append(sentence.strip())
        lines.append(" ".join(k for k in kept if k))
    return "\n".join(lines), withheld


def passages_block(passages: list[tuple[int, str, str]]) -> str:
    return render(
        "passages", passages=[{"n": n, "heading": h, "text": t.strip()} for n, h, t in passages]
    )


def build_prompt(
    strategy: Strategy,
    question: str,
    hits: list[Hit],
    examples: Sequence[Example] = (),
    language: str = "es",
    numbers: list[int] | None = None,
) -> str:
    """The full prompt: instructions (in the question's language), worked examples,
    numbered passages [1]..[k] (or ``numbers``, one per hit: the writer shows the selected
    units under their own passages' numbers), question."""
    if language not in ("es", "en"):
        raise SettingsError(f"language must be 'es' or 'en', got {language!r}")
    instructions = render(
        "instructions" if language == "es" else "instructions_en", abstain=ABSTAIN
    )
    shown = [
        {
            "question": ex.question,
            "answer": ex.answer,
            "facts": ex.facts,
            "passages_block": passages_block(
                [(i, h, t) for i, (h, t) in enumerate(ex.passages, start=1)]
            ),
        }
        for ex in examples
    ]
    block = passages_block(
        [
            (
                n,
                section_title(hit.chunk),
                withhold_instructions(plain_text(chunk_body(hit.chunk)))[0],
            )
            for n, hit in zip(numbers or range(1, len(hits) + 1), hits)
        ]
    )
    return render(
        strategy.kind,
        instructions=instructions,
        passages_block=block,
        question=question,
        examples=shown,
    )


_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def first_sentence(text: str) -> str:
    body = plain_text(text).strip()
    sentence = _SENTENCE_END.split(body, maxsplit=1)[0].strip()
    return sentence


def _short(text: str) -> str:
    text = plain_text(text).strip()
    return (
        text
        if len(text) <= EXAMPLE_PASSAGE_CHARS
        else text[:EXAMPLE_PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
    )


def chunk_body(chunk: Chunk) -> str:
    """The chunk without its heading line."""
    lines = chunk.text.strip().splitlines()
    return "\n".join(lines[1:] if lines and lines[0].startswith("#") else lines)


def section_title(chunk: Chunk) -> str:
    """The chunk's own heading without its list number: "12. ¿Qué es X?" -> "¿Qué es X?"."""
    return strip_question_number(chunk.section or chunk.heading.split(" > ")[-1])


@dataclass
class ExamplePool:
    """Worked examples made from the notes themselves: a section's question heading, its
    first sentence as the answer, next to a distractor section; some examples have only
    distractors and teach the abstention sentence."""

    examples: list[Example] = field(default_factory=list)

    @classmethod
    def from_chunks(cls, chunks: list[Chunk], seed: int = 0) -> ExamplePool:
        rng = random.Random(seed)
        usable = [
            c
            for c in chunks
            if c.section.endswith("?")
            and c.text.lstrip().startswith("#")
            and len(first_sentence(chunk_body(c))) >= 40
            and chunk_body(c).lstrip()[:1].isalpha()
        ]
        examples = []
        for i, chunk in enumerate(usable):
            others = [c for c in usable if c.section != chunk.section]
            if not others:
                break
            question = section_title(chunk)
            distractor = rng.choice(others)
            every = _templates()["pool_abstain_every"]
            if i % every == every - 1:  # the pool's abstention examples (prompts.yaml)
                second = rng.choice(
                    [c for c in others if c.section != distractor.section] or others
                )
                passages = (
                    (section_title(distractor), _short(chunk_body(distractor))),
                    (section_title(second), _short(chunk_body(second))),
                )
                examples.append(
                    Example(
                        chunk.section,
                        question,
                        passages,
                        ABSTAIN,
                        facts="- Ningún pasaje trata esta pregunta.",
                    )
                )
                continue
            right_first = rng.random() < 0.5
            pair = [
                (section_title(chunk), _short(chunk_body(chunk))),
                (section_title(distractor), _short(chunk_body(distractor))),
            ]
            if not right_first:
                pair.reverse()
            n = 1 if right_first else 2
            answer = f"{first_sentence(chunk_body(chunk))} [{n}]"
            facts = f"- {first_sentence(chunk_body(chunk))} [{n}]"
            examples.append(Example(chunk.section, question, tuple(pair), answer, facts=facts))
        return cls(examples)

    def draw(self, k: int, seed: int, exclude_sections: set[str]) -> list[Example]:
        """k examples, drawn with ``seed``, none from the excluded sections (the question's
        own source section and every section among its retrieved passages)."""
        if k == 0:
            return []
        allowed = [ex for ex in self.examples if ex.section not in exclude_sections]
        rng = random.Random(seed)
        answers = [ex for ex in allowed if ex.answer != ABSTAIN]
        abstentions = [ex for ex in allowed if ex.answer == ABSTAIN]
        # One abstention example once there are 3 or more, so the format is learnt too.
        n_abstain = 1 if k >= 3 and abstentions else 0
        chosen = rng.sample(answers, min(k - n_abstain, len(answers)))
        chosen += rng.sample(abstentions, n_abstain)
        rng.shuffle(chosen)
        return chosen
