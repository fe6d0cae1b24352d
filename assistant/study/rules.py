"""The text rules of each card kind: which heading is a question, where an answer is cut,
which sentence is a definition, which terms are worth a cloze, how a list section is
asked for. Pure functions of plain text or blocks (sections.py); cards.py applies them.

They are heuristics written for these notes' style (Spanish, "## N. ¿...?" questions,
**bold** key terms), not a parser of Spanish; the tests pin what they catch and miss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.study.sections import Sentence, plain, render_lines
from corpus.markdown import Block, item_body
from corpus.text import fold_accents, strip_question_number

BLANK = "[...]"  # what replaces a cloze's term


# -- qa ----------------------------------------------------------------------------------

_NUMBERED = re.compile(r"^\d+\.\s+")


def question_of(title: str) -> str | None:
    """The question a heading asks, or None: a heading with "?" or a numbered heading
    ("38. Describí el input de BERT." is a question of a numbered list too)."""
    if "?" not in title and not _NUMBERED.match(title):
        return None
    question = plain(strip_question_number(title))
    return question or None


def answer_units(blocks: list[Block], sentences: dict[int, list[Sentence]]) -> list[str]:
    """Sentences and list items of an answer in order (code, tables and math are left to
    ``full_back``); a unit starting with a newline begins a new line."""
    units: list[str] = []
    for block, line in render_lines(blocks):
        if block.kind == "prose":
            for i, sentence in enumerate(sentences[block.start]):
                units.append(("\n" if i == 0 else " ") + sentence.plain)
        elif block.kind == "item":
            units.append("\n" + line)
    return units


def cut_back(units: list[str], limit: int) -> str:
    """Whole units up to ``limit`` characters, never ending on a label ("Ejemplo:"); a
    unit that does not fit alone is cut at a word boundary and marked with "…"."""
    kept: list[str] = []
    for unit in units:
        if kept and len("".join(kept)) + len(unit) > limit:
            break
        kept.append(unit)
    while len(kept) > 1 and kept[-1].rstrip().endswith(":"):
        kept.pop()
    if kept and kept[-1].rstrip().endswith(":") and len(units) > len(kept):
        kept.append(units[len(kept)])  # a lone lead-in says nothing: show what it leads to
    text = "".join(kept).strip("\n ")
    if len(text) > limit:
        head = text[: limit - 1]
        if text[limit - 1] != " ":  # the cut falls inside a word: drop that word
            head = head.rsplit(" ", 1)[0]
        text = head.rstrip(" ,;:") + "…"
    return text


# -- definitions and cloze ---------------------------------------------------------------

_ARTICLE = r"(?:el|la|los|las|un|una|unos|unas|uno)"
# Matched on the plain sentence; group "term" is what is defined, "verb" tells its number.
_DEFINITIONS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"^(?P<term>[^,;:]+?)\s+(?P<verb>es|son)\s+{_ARTICLE}\s+\S", re.IGNORECASE),
    re.compile(r"^(?P<term>[^,;:]+?)\s+(?P<verb>consiste|consisten)\s+en\s+\S", re.IGNORECASE),
    re.compile(r"^(?P<term>[^,;:]+?)\s+se\s+(?P<verb>define|definen)\s+como\s", re.IGNORECASE),
    re.compile(
        r"^(?P<term>[^,;:]+?)\s+(?P<verb>se refiere|se refieren|hace referencia|hacen referencia)"
        r"\s+a\s",
        re.IGNORECASE,
    ),
    re.compile(
        r"^Se\s+(?P<verb>denomina|denominan|llama|llaman|conoce como|conocen como)\s+"
        r"(?P<term>[^,;:]+?)\s+(?:a|al)\s",
        re.IGNORECASE,
    ),
)
_PLURAL_VERBS = {"son", "consisten", "definen", "se refieren", "hacen referencia"}
_PLURAL_VERBS |= {"denominan", "llaman", "conocen como"}
_LEADING_ARTICLE = re.compile(rf"^(?P<article>{_ARTICLE})\s+", re.IGNORECASE)
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)")
# Subjects that point back to something said before: not a term being defined.
_NOT_TERMS = {
    "esto", "esta", "este", "estos", "estas", "eso", "esa", "ese", "ello", "lo", "que",
    "cada", "su", "sus", "otra", "otro", "tambien", "aqui", "asi", "donde", "cuando",
    "hay", "no", "ejemplo", "idea", "objetivo", "resultado", "problema", "diferencia",
}  # fmt: skip
_BOLD = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True)
class Definition:
    term: str  # without article or parenthetical: "Transfer Learning"
    front: str  # "¿Qué es Transfer Learning?"


def definition_of(sentence: str, max_term_words: int = 6) -> Definition | None:
    """The term a plain sentence defines and the question that asks for it, or None."""
    for pattern in _DEFINITIONS:
        match = pattern.match(sentence)
        if not match:
            continue
        term = match.group("term").strip()
        article = ""
        if lead := _LEADING_ARTICLE.match(term):
            article, term = lead.group("article").lower(), term[lead.end() :]
        term = _PARENTHETICAL.sub("", term).strip()
        words = term.split()
        if not words or len(words) > max_term_words:
            return None
        if fold_accents(words[0].lower()) in _NOT_TERMS or not term[0].isalnum():
            return None
        verb = "son" if match.group("verb").lower() in _PLURAL_VERBS else "es"
        subject = f"{article} {term}" if article else term
        return Definition(term=term, front=f"¿Qué {verb} {subject}?")
    return None


def blank_out(sentence: str, term: str) -> str | None:
    """The sentence with every whole-word occurrence of ``term`` as [...], or None."""
    pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
    front, count = pattern.subn(BLANK, sentence)
    return front if count else None


def cloze_terms(
    sentence: Sentence, definition: Definition | None, max_terms: int = 3, max_words: int = 4
) -> list[str]:
    """The terms of a sentence worth a cloze: its bold spans and its defined term."""
    terms: list[str] = []
    for raw in _BOLD.findall(sentence.raw):
        term = _PARENTHETICAL.sub("", plain(raw)).strip(" :.,;")
        if term and term.lower() not in (t.lower() for t in terms):
            terms.append(term)
    if len(terms) > max_terms:
        return []
    # The defined term is usually bold already ("Un **MLM (...)** es..."): one card.
    if definition and not any(
        definition.term.lower() in t.lower() or t.lower() in definition.term.lower() for t in terms
    ):
        terms.append(definition.term)
    return [t for t in terms if len(t) >= 2 and not t.isdigit() and len(t.split()) <= max_words]


# -- lists -------------------------------------------------------------------------------

# Heading word (accents folded) -> (article, plural?) for the question's wording.
_LIST_WORDS: dict[str, tuple[str, bool]] = {
    "ventajas": ("las", True),
    "desventajas": ("las", True),
    "inconvenientes": ("los", True),
    "limitaciones": ("las", True),
    "beneficios": ("los", True),
    "aplicaciones": ("las", True),
    "caracteristicas": ("las", True),
    "usos": ("los", True),
    "tipos": ("los", True),
    "clases": ("las", True),
    "componentes": ("los", True),
    "pasos": ("los", True),
    "etapas": ("las", True),
    "objetivos": ("los", True),
    "objetivo": ("el", False),
}
_LIST_HEADING = re.compile(
    r"^(?P<word>\w+)(?:\s+(?P<rest>(?:de|del)\s.+))?$", re.IGNORECASE | re.UNICODE
)
_INTERROGATIVE = re.compile(r"^(como|que|por que|cuales|cuando|donde)\s", re.IGNORECASE)


def _of(topic: str) -> str:
    """ "de" + topic, contracted: "del encoder" for "El encoder"."""
    if topic[:3].lower() == "el ":
        return "del " + topic[3:]
    return "de " + topic


def list_question(title: str, parent: str) -> str | None:
    """The question a list section answers, from its title and its parent heading."""
    title = plain(title).rstrip(".:")
    if _INTERROGATIVE.match(fold_accents(title)):
        return f"¿{title.strip('¿?')}?"
    match = _LIST_HEADING.match(title)
    if not match:
        return None
    word = match.group("word")
    found = _LIST_WORDS.get(fold_accents(word.lower()))
    if found is None:
        return None
    article, plural = found
    rest = match.group("rest")
    if not rest:
        if not parent:
            return None
        rest = _of(plain(strip_question_number(parent)).strip("¿?"))
    ask = "¿Cuáles son" if plural else "¿Cuál es"
    return f"{ask} {article} {word.lower()} {rest}?"


def item_label(block: Block) -> str | None:
    """The bold label of an item ("**Eficiencia**: Acelera..." -> "Eficiencia")."""
    match = re.match(r"^\*\*(.+?)\*\*\s*:?", item_body(block))
    return plain(match.group(1)).rstrip(":") if match else None
