"""Flashcards from the notes: a pure, deterministic function of the notes' text.

Four kinds, each from a Markdown shape the notes use (sections.py reads the blocks):

- ``qa``: a question heading ("## 12. ¿Qué es *Self-Attention*?") -> front the question
  without its number and markup; back the answer's first sentences (``max_back_chars``),
  or, when the answer is a list (or those sentences would show a list in part), its lead
  and every item of the list (``list_back``); ``full_back`` the whole section.
- ``definition``: a prose sentence "X es un/una ...", "X consiste en ...", "Se denomina X
  a ..." -> front "¿Qué es X?", back the sentence.
- ``cloze``: a **bold** or defined term of a prose sentence -> front the sentence with the
  term as "[...]", back the term, ``full_back`` the sentence (its context).
- ``list``: a section titled "Ventajas", "Desventajas", "Tipos de ...", "Cómo funciona ..."
  whose body is a list -> front "¿Cuáles son las ventajas de <parent heading>?", back the
  items (their bold labels when every item has one), ``full_back`` the items in full.

A card's id hashes its kind and the exact note text it came from (plus the term, for a
cloze), so an edit elsewhere in the notes keeps it, and so does a new rule for its back (a
qa card's text is its whole section: the deck's sync updates its back, reviews kept). The text rules are in rules.py:
heuristics for these notes' style that miss definitions phrased otherwise and let a
sentence that merely looks like one ("X es una técnica poderosa, pero...") slip through.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Literal

from assistant.study.rules import (
    BLANK,
    answer_units,
    blank_out,
    cloze_terms,
    cut_back,
    definition_of,
    item_label,
    list_question,
    question_of,
)
from assistant.study.sections import (
    AnswerList,
    Sentence,
    answer_list,
    plain,
    prose_sentences,
    render,
)
from corpus.chunking import chunk_notes
from corpus.config import ChunkConfig
from corpus.errors import SettingsError
from corpus.markdown import Block, Section, find_sections, item_body, read_blocks
from corpus.records import Chunk, Note, content_hash
from corpus.text import analyse

CardKind = Literal["qa", "definition", "cloze", "list"]
CARD_KINDS: tuple[str, ...] = ("qa", "definition", "cloze", "list")


@dataclass(frozen=True)
class CardConfig:
    """How cards are cut from the notes. Lengths in characters, counts in words."""

    # Two or three sentences: what can be read at a glance and recalled as a whole.
    max_back_chars: int = 300
    # A list answer shows every item (issue 28): in full up to this length, else one line
    # per item cut to its share of it; an item is never dropped, so a long list may pass it.
    max_list_back_chars: int = 600
    # An item's line is never cut shorter: its label and a few words of what it says.
    min_item_chars: int = 40
    # A defined term longer than this is a clause, not a term ("El modelo que usamos...").
    max_term_words: int = 6
    # A cloze term is a name or a concept; a longer bold span is emphasis of a phrase.
    max_cloze_words: int = 4
    # Words left around the blank: fewer and the sentence says nothing without the term.
    min_cloze_context_words: int = 5
    # A sentence with more bold terms than this is a listing or an example, not a fact.
    max_cloze_terms: int = 3

    def __post_init__(self) -> None:
        if self.max_back_chars < 40:
            raise SettingsError(f"max_back_chars must be >= 40, got {self.max_back_chars}")
        if self.max_list_back_chars < self.max_back_chars:
            raise SettingsError(
                f"max_list_back_chars must be >= max_back_chars ({self.max_back_chars}), "
                f"got {self.max_list_back_chars}"
            )
        if self.min_item_chars < 10:
            raise SettingsError(f"min_item_chars must be >= 10, got {self.min_item_chars}")
        for name in ("max_term_words", "max_cloze_words", "max_cloze_terms"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_cloze_context_words < 1:
            raise SettingsError(
                f"min_cloze_context_words must be >= 1, got {self.min_cloze_context_words}"
            )


@dataclass(frozen=True)
class Card:
    """One flashcard and the exact span of the note it was taken from."""

    id: str  # content_hash(kind, note.text[start:end], term): see card_id
    kind: CardKind
    front: str
    back: str
    source: str  # the note's path relative to the notes folder
    heading: str  # heading path of its section, "A > B"
    chunk_id: str  # the chunk (corpus.chunking) holding the span's start
    start: int  # character offsets in the note's text
    end: int
    # The complete text the back comes from: the whole answer (qa), every item in full
    # (list), the sentence (definition; cloze, where it is the context of the blank).
    full_back: str = ""

    def __post_init__(self) -> None:
        if self.kind not in CARD_KINDS:
            raise SettingsError(f"kind must be one of {CARD_KINDS}, got {self.kind!r}")
        for name in ("id", "front", "back", "source"):
            if not getattr(self, name).strip():
                raise SettingsError(f"{name} must not be empty, got {getattr(self, name)!r}")
        if not 0 <= self.start < self.end:
            raise SettingsError(f"need 0 <= start < end, got start={self.start}, end={self.end}")

    def to_dict(self) -> dict:
        return asdict(self)


def card_id(kind: str, span_text: str, term: str = "") -> str:
    """Stable id: the same kind of card from the same note text gets the same id."""
    return content_hash(kind, span_text, term)


# -- building ----------------------------------------------------------------------------


class _Builder:
    """Cards of one note, in note order; ids unique, (kind, front) unique for
    definitions and cloze (the same question twice is noise)."""

    def __init__(self, note: Note, chunks: list[Chunk], config: CardConfig) -> None:
        self.note, self.config = note, config
        self.chunks = sorted(chunks, key=lambda c: c.start)
        self.chunk_starts = [c.start for c in self.chunks]
        self.cards: list[Card] = []
        self.ids: set[str] = set()
        self.fronts: set[tuple[str, str]] = set()

    def chunk_id(self, offset: int) -> str:
        i = bisect.bisect_right(self.chunk_starts, offset) - 1
        return self.chunks[max(i, 0)].id if self.chunks else ""

    def add(self, kind, front, back, heading, start, end, full_back, term="") -> None:
        if kind in ("definition", "cloze"):
            if (kind, front) in self.fronts:
                return
            self.fronts.add((kind, front))
        span = self.note.text[start:end]
        identity = card_id(kind, span, term)
        if identity in self.ids:  # the same text twice: tell them apart by place
            identity = content_hash(kind, span, term, self.note.source, str(start))
        self.ids.add(identity)
        self.cards.append(
            Card(
                id=identity,
                kind=kind,
                front=front,
                back=back,
                source=self.note.source,
                heading=heading,
                chunk_id=self.chunk_id(start),
                start=start,
                end=end,
                full_back=full_back,
            )
        )

    def section(self, section: Section) -> None:
        text = self.note.text
        if not text[section.start : section.end].strip():
            return
        blocks = read_blocks(text, section)
        heading = " > ".join(section.path)
        title = section.path[-1] if section.path else ""
        sentences = {b.start: prose_sentences(b) for b in blocks if b.kind == "prose"}
        qa_back = ""
        if question := question_of(title):
            full = render(blocks)
            qa_back = (
                qa_back_of(blocks, sentences, self.config, question)
                or full[: self.config.max_back_chars]
            )
            if qa_back:
                self.add("qa", question, qa_back, heading, section.start, section.end, full)
        elif front := list_question(title, section.path[-2] if len(section.path) > 1 else ""):
            self.list_card(front, blocks, heading, section)
        for sentence in self.card_sentences(blocks, sentences):
            self.sentence_cards(sentence, heading, qa_back)

    def list_card(self, front: str, blocks: list[Block], heading: str, section: Section) -> None:
        items = [b for b in blocks if b.kind == "item"]
        if not items or sum(b.kind == "prose" for b in blocks) > 1:
            return  # not a list, or a list inside prose: left to the sentence cards
        top = min(b.indent for b in items)
        labels = [item_label(b) for b in items if b.indent == top]
        if all(labels):
            back = "\n".join(f"- {label}" for label in labels)
        else:
            back = "\n".join(f"- {plain(item_body(b))}" for b in items if b.indent == top)
        self.add("list", front, back, heading, section.start, section.end, render(items))

    def card_sentences(self, blocks: list[Block], sentences: dict[int, list[Sentence]]):
        """Prose sentences that state something: no "Ejemplo:" paragraphs (examples are
        not facts to recall) and no label lines ending in ":"."""
        after_example = False
        for block in blocks:
            if block.kind != "prose":
                after_example = False
                continue
            text = plain(block.text)
            if text.lower().startswith("ejemplo"):
                after_example = text.endswith(":")
                continue
            if not after_example:
                yield from (s for s in sentences[block.start] if not s.plain.endswith(":"))
            after_example = False

    def sentence_cards(self, sentence: Sentence, heading: str, qa_back: str) -> None:
        definition = definition_of(sentence.plain, self.config.max_term_words)
        if definition and sentence.plain not in qa_back:  # else the qa card asks it
            self.add(
                "definition",
                definition.front,
                sentence.plain,
                heading,
                sentence.start,
                sentence.end,
                sentence.plain,
            )
        config = self.config
        terms = cloze_terms(sentence, definition, config.max_cloze_terms, config.max_cloze_words)
        for term in terms:
            front = blank_out(sentence.plain, term)
            if front is None:
                continue
            context = len(front.replace(BLANK, " ").split())
            if context < self.config.min_cloze_context_words:
                continue
            self.add(
                "cloze",
                front,
                term,
                heading,
                sentence.start,
                sentence.end,
                sentence.plain,
                term=term,
            )


def qa_back_of(
    blocks: list[Block],
    sentences: dict[int, list[Sentence]],
    config: CardConfig,
    question: str = "",
) -> str:
    """A question's back: the answer's first sentences (``cut_back``), unless they would
    show its list in part, or the answer is a list after at most a lead-in paragraph
    ("Surgen debido a:"), or the ``question`` asks for what the list's label names
    ("¿Cuáles son sus ventajas?" over "Ventajas:"): then ``list_back``. Otherwise an
    answer that opens with prose and has a list after a label of its own keeps its prose
    alone."""
    back = cut_back(answer_units(blocks, sentences), config.max_back_chars)
    listed = answer_list(blocks)
    if listed is None:
        return back
    lines = back.split("\n")
    shown = sum(any(line.startswith(item.head) for line in lines) for item in listed.items)
    lead = blocks[: listed.first]
    if shown == len(listed.items) or not (
        shown or _lead_in_only(lead) or _asked_list(question, lead)
    ):
        return back
    return list_back(listed, answer_units(lead, sentences), config)


def _asked_list(question: str, lead: list[Block]) -> bool:
    """The question asks for what the label before the list names: the label's first
    word ("Ventajas de LoRA:" -> ventajas) is in it ("¿Cuáles son sus ventajas?"; not
    "¿Qué es LoRA?", which only shares the topic)."""
    if not question or not lead or lead[-1].kind != "prose":
        return False
    label = plain(lead[-1].text).strip()
    words = analyse(label)
    return label.endswith(":") and bool(words) and words[0] in set(analyse(question))


def _lead_in_only(blocks: list[Block]) -> bool:
    """Nothing, or one paragraph ending with ":", before a list: the answer is the list."""
    return not blocks or (
        len(blocks) == 1 and blocks[0].kind == "prose" and plain(blocks[0].text).endswith(":")
    )


def list_back(listed: AnswerList, lead_units: list[str], config: CardConfig) -> str:
    """The lead (its first sentences, ``max_back_chars // 2``, and the line that introduces
    the list: "Ventajas:") and every item of the list: in full (sub-items too) when that
    fits ``max_list_back_chars``, else one line per item (``ListItem.summary``) cut to an
    equal share of it, never below ``min_item_chars``."""
    label = lead_units[-1] if lead_units and lead_units[-1].rstrip().endswith(":") else ""
    lead = cut_back(lead_units[:-1] if label else lead_units, config.max_back_chars // 2)
    if label:  # " Se capturan:" goes on the same line as its paragraph, "\nVentajas:" below
        lead = f"{lead}{label}" if lead and label.startswith(" ") else f"{lead}\n{label.strip()}"
    lead = lead.strip("\n ")
    whole = "\n".join([lead, *listed.lines()]).strip("\n")
    if len(whole) <= config.max_list_back_chars:
        return whole
    room = config.max_list_back_chars - len(lead) - 1
    share = max(room // len(listed.items) - 1, config.min_item_chars)
    lines = [_cut_line(item.summary(), share) for item in listed.items]
    return "\n".join([lead, *lines]).strip("\n")


def _cut_line(line: str, limit: int) -> str:
    """``line`` cut at a word boundary to ``limit`` characters with "…", or without one
    when the cut falls at the end of a sentence."""
    if len(line) <= limit:
        return line
    head = line[: limit - 1]
    if line[limit - 1] != " ":  # the cut falls inside a word: drop that word
        head = head.rsplit(" ", 1)[0]
    head = head.rstrip(" ,;:")
    return head if head.endswith((".", "!", "?")) else head + "…"


def note_cards(note: Note, chunks: list[Chunk], config: CardConfig | None = None) -> list[Card]:
    """The cards of one note; ``chunks`` are the note's chunks (for each card's chunk_id)."""
    builder = _Builder(note, chunks, config or CardConfig())
    for section in find_sections(note.text):
        builder.section(section)
    return builder.cards


def build_cards(
    notes: Iterable[Note],
    config: CardConfig | None = None,
    chunk_config: ChunkConfig | None = None,
) -> list[Card]:
    """Every card of the notes, in note order. Pure: the same notes give the same cards."""
    notes = list(notes)
    by_source: dict[str, list[Chunk]] = {}
    for chunk in chunk_notes(notes, chunk_config):
        by_source.setdefault(chunk.source, []).append(chunk)
    config = config or CardConfig()
    cards = [
        card for note in notes for card in note_cards(note, by_source.get(note.source, []), config)
    ]
    return _distinct_across_notes(cards)


def _distinct_across_notes(cards: list[Card]) -> list[Card]:
    """Ids unique over all notes: a card whose text another note already gave a card
    (two notes sharing a definitional sentence) takes an id qualified by its note. The
    first in note order keeps the plain id; a renamed card keeps its reviews, since the
    sync matches a vanished id by (kind, note, front)."""
    seen: set[str] = set()
    distinct = []
    for card in cards:
        if card.id in seen:
            card = replace(card, id=content_hash(card.id, card.source, str(card.start)))
        seen.add(card.id)
        distinct.append(card)
    return distinct
