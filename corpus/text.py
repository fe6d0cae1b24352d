"""Text helpers every stage shares, defined once: normalization, accent folding, Spanish
analysis (stopwords + Snowball stems) and sentence splitting (pysbd, Spanish rules).

At the bottom layer so that index, assistant and eval all use the same definitions: the
relevance rule of the evals, the BM25 analyser and the support checker must agree on what
a word and a sentence are.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WORD = re.compile(r"\w+", re.UNICODE)
_STRIPPED = re.compile(r"[*_`#]")
_SPACE = re.compile(r"\s+")
_MARKUP = re.compile(r"[*_`]")
_QUESTION_NUMBER = re.compile(r"^\d+\.\s*")


def normalize(text: str) -> str:
    """Lowercase, drop the characters * _ ` #, collapse whitespace to single spaces (the
    evals' relevance rule, eval/data/README.md)."""
    return _SPACE.sub(" ", _STRIPPED.sub("", text.lower())).strip()


def strip_markup(text: str) -> str:
    """Drop the * _ ` emphasis marks of Markdown."""
    return _MARKUP.sub("", text)


def strip_question_number(heading: str) -> str:
    """ "12. ¿Qué es X?" -> "¿Qué es X?" (the notes number their question headings)."""
    return _QUESTION_NUMBER.sub("", heading)


def fold_accents(text: str) -> str:
    """'atención' -> 'atencion': students type without accents as often as with them."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("spanish")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_SPANISH

    return frozenset(STOPWORDS_SPANISH)


def content_words(text: str) -> list[str]:
    """The words of ``text``, lowercase, in order, Spanish stopwords dropped."""
    stopwords = _stopwords()
    return [w for w in WORD.findall(text.lower()) if w not in stopwords]


def analyse(text: str) -> list[str]:
    """Lowercase, drop Spanish stopwords, stem (Snowball needs the accents), then fold."""
    return [fold_accents(stem) for stem in _stemmer().stemWords(content_words(text))]


def stems(text: str) -> set[str]:
    """Every word stemmed and folded, stopwords kept (contrast words such as 'más' are
    stopwords for BM25)."""
    return {fold_accents(s) for s in _stemmer().stemWords(WORD.findall(text.lower()))}


@lru_cache(maxsize=2)
def segmenter(char_span: bool = False):
    """pysbd's Spanish sentence splitter; it never rewrites the text (clean=False)."""
    import pysbd

    return pysbd.Segmenter(language="es", clean=False, char_span=char_span)


def sentences(text: str) -> list[str]:
    """The sentences of one line or paragraph, as pysbd cuts them, less the cuts that fall
    inside a Markdown image or a "p. ej." (``_continues``)."""
    merged: list[str] = []
    for piece in segmenter().segment(text):
        if merged and _continues(merged[-1], piece):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of ``text``, cut as ``sentences`` cuts them."""
    spans: list[tuple[int, int]] = []
    for span in segmenter(char_span=True).segment(text):
        if spans and _continues(text[spans[-1][0] : spans[-1][1]], text[span.start : span.end]):
            spans[-1] = (spans[-1][0], span.end)
        else:
            spans.append((span.start, span.end))
    return spans


# "p. ej." (por ejemplo) as the RAE spells it: pysbd's Spanish rules know "p.ej" and "ej"
# but take "p." for a page number's, so "p. ej. en …" was cut after "p.", and any of them
# before a capital ("p. ej. LoRA") after "ej.". No sentence ends on "por ejemplo".
_FOR_EXAMPLE = ("p. ej.", "p.ej.", "por ej.")


def _continues(before: str, after: str) -> bool:
    """Whether pysbd's cut between two pieces falls inside a sentence: the "!" of a
    Markdown image ``![alt](url)``, after the "p." of "p. ej.", or after "p. ej." itself."""
    if before.endswith("!") and after.startswith("["):
        closes = after.find("]")  # "[alt](" is an image's; "[1] " a citation's
        return after[closes + 1 : closes + 2] == "(" if closes >= 0 else False
    end = before.rstrip().lower()
    if end.endswith("p.") and after.lower().startswith("ej."):
        return not _inside_word(end, len(end) - 2)
    return any(
        end.endswith(spelling) and not _inside_word(end, len(end) - len(spelling))
        for spelling in _FOR_EXAMPLE
    )


def _inside_word(text: str, at: int) -> bool:
    """Whether text[at] is preceded by a letter or digit (so "p." is inside a word, "ap.")."""
    return at > 0 and text[at - 1].isalnum()
