"""Cards as good as the notes (issue 28): multiple-choice distractors and list backs.

    python -m eval.bench.distractors [--notes corpus/notes] [--cards 40] [--seed 0]
        [--out docs/results/distractors.json]

Two measurements on the cards of the notes (``build_cards``), each before and after the
change, in one run:

- ``distractors``: on ``--cards`` cards (the first by id, a hash, of those that get
  options), the wrong options drawn the old way (``random_options`` below: the rule before
  issue 28, kept here to measure against: a random sample of backs of the same kind, the
  card's own note first) and the new way (``quiz.multiple_choice``: the nearest backs of
  the same kind by e5 similarity, from other sections). For each: how many distractors
  come from the same topic as the card, their mean e5 cosine to the right back, and how
  many come from the same note. The same cards and pool for both.
- ``cloze_context``: on every cloze card, the nearest distractors by the bare terms (the
  rule before) and by the terms in their sentences (``quiz.compared_text``, the rule
  now): how many come from the card's topic.
- ``lists``: the cards whose answer is a list (a list card; or a question whose answer is
  a list after at most a lead-in paragraph, ``cards.qa_back_of``), and how many keep every
  top-level item on their back (an item is kept when its label, or its first four words,
  is on the back); before = the back as ``cut_back`` alone cut it. Also, over every
  question with a list, how many backs show that list in part.

"Same topic" is a hand-made map of the default notes' sections to ten topics (``TOPICS``
below), written from the headings alone, before looking at any distractor: coarse (all of
distillation is one topic), and a judgement, not a ground truth. With ten topics of
unequal size, a distractor drawn at random from the whole note is from the card's topic
18% of the time on the default notes (``chance`` in the output).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistant.study.cards import Card, CardConfig, build_cards, qa_back_of
from assistant.study.quiz import (
    QuizError,
    back_vectors,
    compared_text,
    multiple_choice,
    nearest_distractors,
)
from assistant.study.rules import answer_units, cut_back
from assistant.study.sections import AnswerList, answer_list, plain, prose_sentences
from corpus.loader import load_notes
from corpus.markdown import find_sections, read_blocks
from corpus.records import content_hash
from corpus.text import normalize
from eval.harness import emit

ROOT = Path(__file__).resolve().parents[2]
QA_NOTE = "preguntas_nlp_llm.md"

# Section number of preguntas_nlp_llm.md -> topic; teacher_forcing.md is one topic.
TOPICS: dict[str, tuple[int, ...]] = {
    "transfer learning y preentrenamiento": (1, 5, 6, 9, 10, 11, 29, 39, 44, 45, 46, 47, 48, 52),
    "embeddings": (2, 3, 4, 17, 26, 27),
    "atención y Transformers": (12, 13, 14, 15, 16, 30, 31, 32, 33, 34, 35, 36, 37, 38, 42, 43, 51),
    "modelos de lenguaje": (18, 19, 20, 21, 22, 23, 24, 25),
    "diseño de tareas (clasificación, NER)": (7, 8, 28, 40, 41),
    "fine-tuning eficiente": (49, 50),
    "LLMs: capacidades, prompting, alucinaciones": (53, 54, 55, 56, 57, 58, 59, 61, 71),
    "alineación: instruction tuning y RLHF": (60, 62, 63, 64, 65, 66, 67, 68, 69, 70, 72),
    "destilación": tuple(range(73, 84)),
}
OTHER_NOTES_TOPIC = "la nota propia"  # every other note is a topic of its own
_NUMBER = re.compile(r"^(\d+)\.")


def topic(card: Card) -> str:
    if card.source != QA_NOTE:
        return f"{OTHER_NOTES_TOPIC}: {card.source}"
    title = card.heading.split(" > ")[-1]
    match = _NUMBER.match(title)
    number = int(match.group(1)) if match else 0
    return next((name for name, sections in TOPICS.items() if number in sections), "?")


def random_options(card: Card, pool: list[Card], seed: int = 0, distractors: int = 3) -> list[Card]:
    """The wrong options as ``quiz.multiple_choice`` drew them before issue 28: a random
    sample of other backs of the card's kind from its own note, topped up from other
    notes (the same seed as the app, 0)."""
    rng = random.Random(content_hash(str(seed), card.id))
    seen = {normalize(card.back)}
    same_note: list[Card] = []
    other_notes: list[Card] = []
    for other in sorted(pool, key=lambda c: c.id):
        key = normalize(other.back)
        if other.kind != card.kind or other.id == card.id or key in seen:
            continue
        seen.add(key)
        (same_note if other.source == card.source else other_notes).append(other)
    chosen = rng.sample(same_note, min(distractors, len(same_note)))
    missing = distractors - len(chosen)
    if missing > 0:
        chosen += rng.sample(other_notes, min(missing, len(other_notes)))
    return chosen


def chance(cards: list[Card]) -> float:
    """P(a random other card of the same kind and note has the card's topic), averaged."""
    shares = []
    for card in cards:
        others = [
            c for c in cards if c.kind == card.kind and c.source == card.source and c.id != card.id
        ]
        if others:
            shares.append(sum(topic(o) == topic(card) for o in others) / len(others))
    return round(statistics.mean(shares), 3)


def distractor_report(cards: list[Card], count: int, embedder: str) -> dict:
    backs = back_vectors(embedder)
    eligible = []
    for card in sorted(cards, key=lambda c: c.id):
        try:
            eligible.append((card, multiple_choice(card, cards, backs=backs)))
        except QuizError:
            continue  # no other card of its kind (the one definition)
        if len(eligible) == count:
            break
    by_back: dict[str, Card] = {}
    for card in cards:
        by_back.setdefault(card.back, card)
    rows: list[dict] = []
    totals: dict[str, list[tuple[int, int, int]]] = {"old": [], "new": []}
    cosines: dict[str, list[float]] = {"old": [], "new": []}
    for card, choice in eligible:
        new = [by_back[o] for i, o in enumerate(choice.options) if i != choice.answer]
        old = random_options(card, cards)
        row: dict[str, object] = {
            "id": card.id,
            "kind": card.kind,
            "front": card.front,
            "topic": topic(card),
        }
        for name, chosen in (("old", old), ("new", new)):
            vectors = backs([card.back, *(c.back for c in chosen)])
            sims = [float(v @ vectors[0]) for v in vectors[1:]]
            cosines[name] += sims
            same = [topic(c) == topic(card) for c in chosen]
            totals[name].append(
                (sum(same), len(chosen), sum(c.source == card.source for c in chosen))
            )
            row[name] = [
                {"front": c.front, "topic": topic(c), "same_topic": s, "cosine": round(x, 3)}
                for c, s, x in zip(chosen, same, sims)
            ]
        rows.append(row)
    summary = {}
    for name in ("old", "new"):
        same_topic = sum(t[0] for t in totals[name])
        shown = sum(t[1] for t in totals[name])
        summary[name] = {
            "distractors": shown,
            "same_topic": same_topic,
            "same_topic_share": round(same_topic / shown, 3),
            "cards_with_a_same_topic_distractor": sum(t[0] > 0 for t in totals[name]),
            "cards_with_every_distractor_same_topic": sum(t[0] == t[1] for t in totals[name]),
            "same_note_share": round(sum(t[2] for t in totals[name]) / shown, 3),
            "mean_cosine_to_the_answer": round(statistics.mean(cosines[name]), 3),
            "same_topic_share_by_kind": {
                kind: round(
                    sum(d["same_topic"] for r in rows if r["kind"] == kind for d in r[name])
                    / sum(len(r[name]) for r in rows if r["kind"] == kind),
                    3,
                )
                for kind in sorted({r["kind"] for r in rows})
            },
        }
    kinds: dict[str, int] = {}
    for card, _ in eligible:
        kinds[card.kind] = kinds.get(card.kind, 0) + 1
    return {
        "cards": len(eligible),
        "kinds": kinds,
        "chance": chance(cards),
        **summary,
        "per_card": rows,
    }


def cloze_context_report(cards: list[Card], embedder: str) -> dict:
    """Same-topic distractors of every cloze card, its term compared bare and in context."""
    backs = back_vectors(embedder)
    rules = {"bare_term": lambda card: card.back, "in_its_sentence": compared_text}
    report: dict[str, dict] = {}
    for name, text in rules.items():
        shown = same = 0
        for card in (c for c in cards if c.kind == "cloze"):
            chosen = nearest_distractors(card, cards, backs, text=text)
            shown += len(chosen)
            same += sum(topic(other) == topic(card) for other, _ in chosen)
        report[name] = {
            "distractors": shown,
            "same_topic": same,
            "same_topic_share": round(same / shown, 3),
        }
    return {"cards": sum(c.kind == "cloze" for c in cards), **report}


def kept(listed: AnswerList, back: str) -> int:
    """How many of the list's top-level items ``back`` shows (by label, or first words)."""
    return sum(normalize(item.label) in normalize(back) for item in listed.items)


def list_report(notes, cards: list[Card], config: CardConfig) -> dict:
    by_span = {(c.source, c.start): c for c in cards if c.kind in ("qa", "list")}
    answers: list[dict[str, Any]] = []
    partial = {"old": 0, "new": 0, "questions_with_a_list": 0}
    for note in notes:
        for section in find_sections(note.text):
            card = by_span.get((note.source, section.start))
            if card is None:
                continue
            blocks = read_blocks(note.text, section)
            listed = answer_list(blocks)
            if listed is None:
                continue
            sentences = {b.start: prose_sentences(b) for b in blocks if b.kind == "prose"}
            old = card.back
            if card.kind == "qa":
                old = cut_back(answer_units(blocks, sentences), config.max_back_chars)
                assert qa_back_of(blocks, sentences, config, card.front) == card.back
                partial["questions_with_a_list"] += 1
                for name, back in (("old", old), ("new", card.back)):
                    partial[name] += 0 < kept(listed, back) < len(listed.items)
            lead = blocks[: listed.first]
            is_list = (
                card.kind == "list"
                or not lead
                or (
                    len(lead) == 1 and lead[0].kind == "prose" and plain(lead[0].text).endswith(":")
                )
            )
            if not is_list:
                continue

            answers.append(
                {
                    "front": card.front,
                    "kind": card.kind,
                    "items": len(listed.items),
                    "kept_before": kept(listed, old),
                    "kept_after": kept(listed, card.back),
                    "back_chars_after": len(card.back),
                }
            )
    whole = {
        name: sum(a[f"kept_{name}"] == a["items"] for a in answers) for name in ("before", "after")
    }
    return {
        "list_answers": len(answers),
        "keep_every_item": whole,
        "keep_every_item_share": {k: round(v / len(answers), 3) for k, v in whole.items()},
        "backs_showing_a_list_in_part": partial,
        "max_back_chars_after": max(a["back_chars_after"] for a in answers),
        "per_card": answers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=ROOT / "corpus/notes")
    parser.add_argument("--cards", type=int, default=40)
    parser.add_argument("--embedder", default="e5-small")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/results/distractors.json")
    args = parser.parse_args()

    config = CardConfig()
    notes = load_notes(args.notes).notes
    cards = build_cards(notes, config)
    started = time.perf_counter()
    distractors = distractor_report(cards, args.cards, args.embedder)
    seconds = time.perf_counter() - started
    cloze_context = cloze_context_report(cards, args.embedder)
    lists = list_report(notes, cards, config)
    report = {
        "config": {
            "notes": str(
                args.notes.relative_to(ROOT) if args.notes.is_relative_to(ROOT) else args.notes
            ),
            "cards": args.cards,
            "embedder": args.embedder,
            "card_config": asdict(config),
            "topics": {name: list(sections) for name, sections in TOPICS.items()},
        },
        "distractors": distractors,
        "distractors_seconds": round(seconds, 1),  # embedding the backs, unless cached
        "cloze_context": cloze_context,
        "lists": lists,
    }
    shown = {
        "distractors": {k: v for k, v in distractors.items() if k != "per_card"},
        "cloze_context": cloze_context,
        "lists": {k: v for k, v in lists.items() if k != "per_card"},
    }
    emit(report, args.out, shown)


if __name__ == "__main__":
    main()
