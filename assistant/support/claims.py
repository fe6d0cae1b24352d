"""Spanish claim analysis: a passage cut into the units one sentence can restate, and the
pieces of a sentence the checks compare (content words, numbers, negation, names).

Shared by the support scorer (scorer.py) and the abstention policy (assistant/abstain.py:
the names a question uses that no note writes). The language data (negation cues, spelled
numbers) is in spanish.yaml beside this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from corpus.markdown import HEADING_MARKS, LIST_MARKER, read_units
from corpus.text import WORD as _WORD
from corpus.text import analyse, fold_accents

LANGUAGE_DATA = Path(__file__).with_name("spanish.yaml")


@lru_cache(maxsize=1)
def language_data() -> dict:
    return yaml.safe_load(LANGUAGE_DATA.read_text(encoding="utf-8"))


NEGATION_CUES: tuple[str, ...] = tuple(language_data()["negation_cues"])
NUMBER_WORDS: dict[str, str] = {k: str(v) for k, v in language_data()["number_words"].items()}


# -- text pieces -------------------------------------------------------------------------

_CODE_LIKE = re.compile(r"(?=\w*[A-Z]\w*[A-Z0-9])[A-Za-z]\w*|[A-Za-z]+\d\w*")  # BERT, LoRA, T5
_CAPITALIZED = re.compile(r"[A-ZÁÉÍÓÚÑ]\w*")
_STARTS = ".:;!?¿¡([—-\"“«'•"  # after these a capital starts a sentence or label
_NUMBER = re.compile(r"(?<![^\W\d_])\d+(?:[.,]\d+)*")  # not inside a name: Word2Vec, T5


def _normalize(text: str) -> str:
    return " ".join(fold_accents(text.lower()).split())


@lru_cache(maxsize=4096)
def passage_units(passage: str) -> tuple[str, ...]:
    """The texts of the passage's units (``corpus.markdown.read_units``: sentences, list
    items with their label, table cells with their row and column names). Cached: the
    same chunk comes back for many questions."""
    return tuple(unit.text for unit in read_units(passage))


def content_words(text: str) -> set[str]:
    return set(analyse(text))


_CLAUSE_CUT = re.compile(r",\s+|;\s+|:\s+|\s+y\s+|\s+pero\s+|\s+aunque\s+")


def clause_coverage(sentence: str, words: frozenset[str] | set[str]) -> float:
    """The least share of a clause's content words found in ``words`` (a passage's), over
    the sentence's clauses with two or more content words: a true sentence with one
    invented clause appended scores that clause's share. 1.0 when there is no such clause."""
    shares = []
    for piece in _CLAUSE_CUT.split(sentence):
        found = content_words(piece)
        if len(found) >= 2:
            shares.append(len(found & words) / len(found))
    return min(shares) if shares else 1.0


MIN_CLAIM_WORDS = 2  # content words a clause needs to be a claim of its own


def claim_spans(sentence: str) -> list[tuple[int, int]]:
    """The sentence's claims as (start, end) character spans: its clauses (cut at commas,
    semicolons, colons, "y", "pero", "aunque"), a clause with fewer than
    ``MIN_CLAIM_WORDS`` content words joined to the one before ("Francia y Prusia" stays
    one claim). One span for the whole sentence when it makes one claim."""
    spans: list[tuple[int, int]] = []
    start = 0
    cuts = [(m.start(), m.end()) for m in _CLAUSE_CUT.finditer(sentence)]
    for cut_start, cut_end in [*cuts, (len(sentence), len(sentence))]:
        piece = (start, cut_start)
        if len(content_words(sentence[piece[0] : piece[1]])) >= MIN_CLAIM_WORDS or not spans:
            spans.append(piece)
        else:
            spans[-1] = (spans[-1][0], cut_start)
        start = cut_end
    # A first clause too short to stand alone joins the next one.
    if len(spans) > 1 and len(content_words(sentence[spans[0][0] : spans[0][1]])) < MIN_CLAIM_WORDS:
        spans[:2] = [(spans[0][0], spans[1][1])]
    return [(a, b) for a, b in spans if sentence[a:b].strip()] or [(0, len(sentence))]


def sentence_claims(sentence: str) -> list[str]:
    """The texts of the sentence's claims when it makes two or more, else []."""
    spans = claim_spans(sentence)
    return [sentence[a:b] for a, b in spans] if len(spans) > 1 else []


def numbers(text: str) -> set[str]:
    """Numbers as canonical strings: '15%' -> '15', '0,85' -> '0.85', 'dos' -> '2'.

    Ordered-list markers and heading numbers are not numbers of the content.
    """
    body = "\n".join(
        HEADING_MARKS.sub("", LIST_MARKER.sub("", line.strip())) for line in text.splitlines()
    )
    found = {n.replace(",", ".").rstrip(".") for n in _NUMBER.findall(body)}
    words = _WORD.findall(fold_accents(body.lower()))
    found |= {NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS}
    return found


def has_negation(text: str) -> bool:
    padded = f" {' '.join(_WORD.findall(text.lower()))} "
    padded = padded.replace(" o no ", " ")  # "sea correcta o no" = whether or not
    return any(f" {cue} " in padded for cue in NEGATION_CUES)


def model_names(text: str) -> set[str]:
    """Names written like code or acronyms, lowercased: 'BERT', 'GPT-3' -> 'gpt', 'LoRA',
    'Word2Vec', 'T5'. A model swapped for another is the commonest wrong fact."""
    return {word.lower() for word in _WORD.findall(text) if _CODE_LIKE.fullmatch(word)}


def names(text: str) -> set[str]:
    """Model names plus capitalized words inside a sentence ('Transformers', 'Hinton',
    'Google'), lowercased, accents folded and a plural 's' dropped.

    A capital after sentence or label punctuation only starts a sentence: not a name.
    """
    return set(named_terms(text))


def named_terms(text: str) -> dict[str, str]:
    """The names of ``names(text)``, each mapped to how the text writes it."""
    found: dict[str, str] = {}
    for match in _WORD.finditer(text):
        word = match.group()
        before = text[: match.start()].rstrip()
        if _CODE_LIKE.fullmatch(word) or (
            _CAPITALIZED.fullmatch(word) and before and before[-1] not in _STARTS
        ):
            found.setdefault(_singular(fold_accents(word.lower())), word)
    return found


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def passage_words(passage: str) -> frozenset[str]:
    """Every word of the passage as ``names`` spells it: lowercase, folded, singular."""
    return passage_profile(passage).words


def foreign_names(sentence: str, passage: str) -> tuple[str, ...]:
    """Names in the sentence that the passage never writes (any case, plural or not)."""
    return tuple(sorted(names(sentence) - passage_profile(passage).words))


@dataclass(frozen=True)
class PassageProfile:
    content_words: frozenset[str]
    numbers: frozenset[str]
    words: frozenset[str]  # every word, lowercased, folded, singular: for names


@lru_cache(maxsize=4096)
def passage_profile(passage: str) -> PassageProfile:
    """What every sentence is compared with, computed once per passage text."""
    words = frozenset(_singular(w) for w in _WORD.findall(fold_accents(passage.lower())))
    return PassageProfile(frozenset(content_words(passage)), frozenset(numbers(passage)), words)
