"""List questions and the notes' structure: "¿qué ventajas…?", "drawbacks of…", "tipos de…".

Students' notes keep a topic's advantages, drawbacks and kinds under a heading or a label
that names them ("## Desventajas", "**Ventajas de LoRA:**"), and the items under it rarely
repeat the word. Two steps use that structure, because the learned ranker, trained mostly
on SQuAD-es prose, does not:

- ``sibling_hits``: the retrieved notes' sections named for what a list question asks are
  added to the passages (a "## Ventajas" section that says nothing of its topic is often
  not retrieved, while its note's introduction is);
- ``prefer_named``: the units whose label or section heading names what the question asks,
  in a passage about the question's topic, come first, in the ranker's order among
  themselves.

The names are matched in the notes' language (Spanish); what the question asks is read in
Spanish or English (``LIST_QUESTIONS``), so an English question about drawbacks finds the
"Desventajas" section.
"""

from __future__ import annotations

import re
from dataclasses import replace

from assistant.selection.base import RankedUnit, Selection, label_of
from corpus.markdown import plain_text
from corpus.records import Hit
from corpus.text import analyse, fold_accents

# What a question asks for, in Spanish or English (folded, lowercased). Stricter than
# features.QUESTION_FORMS: "¿para qué sirve X?" asks for a use, not a list of advantages.
LIST_QUESTIONS: dict[str, re.Pattern] = {
    "advantages": re.compile(r"(?<!des)ventaj|beneficio|\bpros\b|advantage|benefit|strength"),
    "drawbacks": re.compile(
        r"desventaj|inconvenien|limitacion|\bcontras\b|drawback|disadvantage|downside|"
        r"limitation|weakness"
    ),
    "kinds": re.compile(r"\btipos?\b|\bclases\b|\btypes?\b|\bkinds?\b"),
}
# What a heading or a label must say to name a list (folded, lowercased).
LIST_NAMES: dict[str, re.Pattern] = {
    "advantages": re.compile(r"(?<!des)ventaj|benefici|\bpros\b|fortaleza"),
    "drawbacks": re.compile(r"desventaj|inconvenien|limitacion|\bcontras\b|debilidad"),
    "kinds": re.compile(r"\btipos?\b|\bclases\b|\bvariantes\b|\bcategorias\b"),
}
MAX_SIBLINGS = 2  # sections added per question: the answer is one list, not a note


def asked_lists(question: str) -> list[str]:
    """The list forms the question asks for (keys of LIST_NAMES)."""
    folded = fold_accents(question.lower())
    return [name for name, pattern in LIST_QUESTIONS.items() if pattern.search(folded)]


def names_list(text: str, forms: list[str]) -> bool:
    """Whether a heading or a unit's label names one of ``forms``."""
    folded = fold_accents(plain_text(text).lower())
    return any(LIST_NAMES[form].search(folded) for form in forms)


def unit_named(unit: RankedUnit, forms: list[str]) -> bool:
    label = label_of(unit.text)
    return names_list(unit.heading, forms) or bool(label and names_list(label, forms))


def sibling_hits(chunks, hits: list[Hit], question: str) -> list[Hit]:
    """``hits`` and, for a list question, up to MAX_SIBLINGS sections of the retrieved
    notes whose heading names what it asks and whose heading path is about the question's
    topic, each scored as the note's best hit."""
    forms = asked_lists(question)
    if not forms or not hits:
        return hits
    best: dict[str, float] = {}
    for hit in hits:
        best.setdefault(hit.chunk.source, hit.score)
    have = {hit.chunk.id for hit in hits}
    topic = topic_words(question)
    extra = [
        Hit(chunk, best[chunk.source])
        for chunk in chunks
        if chunk.source in best
        and chunk.id not in have
        and chunk.section
        and names_list(chunk.section, forms)
        and (not topic or topic & set(analyse(chunk.heading)))
    ]
    return hits + extra[:MAX_SIBLINGS]


# Question words the Spanish analyser keeps (and English function words, which it does
# not know): never a topic.
_ASKING = frozenset(
    analyse("cuál cuáles qué cómo cuánto cuántos tiene tienen hay what which are is the of a")
)


def topic_words(question: str) -> set[str]:
    """The question's content stems, without the words that ask ("cuáles", "ventajas",
    "drawbacks"): what the list must be about."""
    return {
        stem
        for stem in analyse(question)
        if stem not in _ASKING
        and not any(p.search(stem) for p in (*LIST_QUESTIONS.values(), *LIST_NAMES.values()))
    }


def prefer_named(question: str, selection: Selection, hits: list[Hit]) -> Selection:
    """The units naming what a list question asks first (each group in ranker order).

    A unit counts when its label or section names the list and its passage is about the
    question's topic (a topic word in the passage's heading path or the label): "sus
    ventajas" after the adapters must not pick another section's "¿Cuáles son sus
    ventajas?"."""
    forms = asked_lists(question)
    if not forms:
        return selection
    topic = topic_words(question)

    def counts(unit: RankedUnit) -> bool:
        if not unit_named(unit, forms):
            return False
        about = analyse(f"{hits[unit.n - 1].chunk.heading} {label_of(unit.text)}")
        return not topic or bool(topic & set(about))

    marks = [counts(u) for u in selection.units]
    named = [u for u, mark in zip(selection.units, marks) if mark]
    if not named:
        return selection
    rest = [u for u, mark in zip(selection.units, marks) if not mark]
    # Scores stay probabilities and keep the new order: the named ones are lifted above
    # every other unit, the order inside each group unchanged.
    ceiling = max((u.score for u in rest), default=0.0)
    lifted = [
        replace(u, score=round(ceiling + (1.0 - ceiling) * (0.5 + 0.5 * u.score), 4)) for u in named
    ]
    return Selection(lifted + rest, selection.no_answer)
