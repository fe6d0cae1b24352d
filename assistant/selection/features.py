"""What the learned ranker sees of each (question, unit) pair: a row of numbers.

Columns (``FEATURES``, in order):

- e5: the unit's cosine to the question (query vs passage embedding), its gap to the best
  unit of the question and its rank among them; the same cosine for the unit's section
  heading (these notes are question headings followed by their answers, so a heading
  that restates the question marks its section).
- words: the share of the question's content stems the unit holds, its gap to the best
  unit, the same share weighted by how rare each stem is among the candidates (a stem in
  every unit tells nothing), and the share the heading holds.
- place: the passage's retrieval rank and score (and gap to the first), the unit's
  position in its passage, the passage's number of units, the unit's length.
- form: what the question asks (a definition, a reason, a quantity, a person, a date, a
  place, advantages, drawbacks, a difference, kinds), what the unit offers (a number, a
  year, a name, a cause, a definition, a contrast, advantages, drawbacks, a labelled list
  item) and their products, so that even a linear model can learn "a drawbacks question
  wants a drawbacks unit"; the same products with what the unit's section heading offers
  (the items under "## Desventajas" rarely say "desventaja" themselves). Patterns cover Spanish and English questions.

Every column is computed from the question's own candidates only: no corpus statistics,
so the same ranker serves any notes folder.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import numpy as np

from assistant.selection.base import Candidate, UnitVectors, label_of
from corpus.markdown import plain_text
from corpus.records import Hit
from corpus.text import analyse, fold_accents

# Question forms: (name, pattern over the folded, lowercased question). Several may match.
QUESTION_FORMS: tuple[tuple[str, str], ...] = (
    (
        "drawbacks",
        r"desventaj|inconvenien|limitacion|problemas? (?:tiene|presenta)|"
        r"drawback|disadvantage|downside|limitation|weakness",
    ),
    (
        "advantages",
        r"(?<!des)ventaj|beneficio|para que sirve|sirve para|advantage|benefit|"
        r"what is .* (?:used )?for|\bgood for\b|strength",
    ),
    (
        "difference",
        r"diferencia|distingue|difiere|\bcompar|\bvs\b|versus|frente a|"
        r"differ|distinguish",
    ),
    (
        "kinds",
        r"\btipos?\b|\bclases\b|ejemplos?|cuales son|\btypes?\b|\bkinds?\b|examples?|"
        r"which are",
    ),
    (
        "quantity",
        r"cuant[oa]s?\b|porcentaje|\bnumero de\b|how many|how much|percent|"
        r"what number",
    ),
    ("person", r"\bquien(?:es)?\b|\bwho\b|\bwhom\b"),
    ("date", r"\bcuando\b|en que (?:ano|siglo|fecha|decada)|\bwhen\b|what year|which year"),
    ("place", r"\bdonde\b|\bwhere\b"),
    ("reason", r"por que|\bpor que\b|\bwhy\b|para que|motivo|razon"),
    ("manner", r"\bcomo\b|\bhow\b(?! many| much)"),
    (
        "definition",
        r"(?:^|[\s¿])(?:que|what) (?:es|son|significa|is|are|does .* mean)\b|"
        r"en que consiste|que se entiende|\bdefin|\bmeaning of",
    ),
)
# Unit offers: (name, pattern over the folded, lowercased unit).
UNIT_OFFERS: tuple[tuple[str, str], ...] = (
    (
        "drawbacks",
        r"desventaj|inconvenien|limitacion|problema|dificultad|desafio|riesgo|"
        r"sesgo|costos?o|lent[oa]",
    ),
    ("advantages", r"(?<!des)ventaj|benefici|permite|mejora|eficien|reduc|facilita|rapid"),
    (
        "difference",
        r"mientras|a diferencia|en cambio|por otro lado|en contraste|"
        r"sin embargo|por el contrario|frente a|\bpero\b",
    ),
    ("kinds", r"tipos?|\bclases\b|ejemplos?|como\s|incluye|entre ell"),
    (
        "quantity",
        r"\d|\b(?:dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|cien|mil|"
        r"millon(?:es)?)\b|porcentaje|%",
    ),
    ("person", r"__name__"),  # filled by _has_name (a capitalized word inside the unit)
    ("date", r"\b1\d{3}\b|\b20\d{2}\b|\bsiglo\b|\bano\b|\bdecada\b"),
    ("place", r"\ben [A-Z]|\bciudad|\bpais|\bregion|\bnorte|\bsur\b|\beste\b|\boeste\b"),
    (
        "reason",
        r"porque|debido|ya que|gracias a|para (?:que|evitar|mejorar|reducir)|"
        r"permite|causa|por eso|de modo que|con el fin",
    ),
    (
        "manner",
        r"mediante|a traves|usando|utiliza|consiste|se (?:calcula|hace|realiza)|"
        r"paso|primero",
    ),
    (
        "definition",
        r"^.{0,80}?\b(?:es|son|se refiere|consiste|significa|se define|"
        r"se denomina|se llama|es decir)\b",
    ),
)
_FORMS = [name for name, _ in QUESTION_FORMS]
_FORM_PATTERNS = [re.compile(p) for _, p in QUESTION_FORMS]
_OFFER_PATTERNS = [re.compile(p) for _, p in UNIT_OFFERS]
_NAME = re.compile(r"(?<=[a-záéíóúñ,;] )[A-ZÁÉÍÓÚÑ][a-záéíóúñ]+")

FEATURES: tuple[str, ...] = (
    "cosine",
    "cosine_gap",
    "cosine_rank",
    "heading_cosine",
    "heading_cosine_gap",
    "lexical",
    "lexical_gap",
    "rare_lexical",
    "heading_lexical",
    "passage_rank",
    "passage_score",
    "passage_score_gap",
    "position",
    "first",
    "relative_position",
    "passage_units",
    "length",
    "short",
    "labelled",
    *(f"asks_{name}" for name in _FORMS),
    *(f"offers_{name}" for name in _FORMS),
    *(f"match_{name}" for name in _FORMS),
    *(f"heading_match_{name}" for name in _FORMS),
)


def question_forms(question: str) -> np.ndarray:
    """(len(QUESTION_FORMS),) 0/1: what the question asks for."""
    text = fold_accents(question.lower())
    return np.array([bool(p.search(text)) for p in _FORM_PATTERNS], dtype=np.float32)


@lru_cache(maxsize=8192)
def unit_offers(unit: str) -> tuple[float, ...]:
    folded = fold_accents(unit.lower())
    offers = []
    for (name, _), pattern in zip(UNIT_OFFERS, _OFFER_PATTERNS):
        if name == "person":
            offers.append(float(bool(_NAME.search(unit))))
        elif name == "place":
            offers.append(float(bool(pattern.search(unit) or pattern.search(folded))))
        else:
            offers.append(float(bool(pattern.search(folded))))
    return tuple(offers)


@lru_cache(maxsize=8192)
def _stems(text: str) -> frozenset[str]:
    return frozenset(analyse(text))


def candidates(hits: list[Hit], max_per_passage: int = 40) -> list[Candidate]:
    """Every unit of the passages, in retrieval then passage order."""
    from assistant.support import passage_units

    found = []
    for n, hit in enumerate(hits, start=1):
        heading = plain_text(hit.chunk.section or "").strip()
        for i, text in enumerate(passage_units(hit.chunk.text)[:max_per_passage]):
            found.append(Candidate(n, i, " ".join(plain_text(text).split()), heading))
    return found


def feature_matrix(
    question: str,
    hits: list[Hit],
    units: list[Candidate],
    query_vector: np.ndarray,
    unit_vectors: UnitVectors,
) -> np.ndarray:
    """(len(units), len(FEATURES)) float32."""
    if not units:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    query = np.asarray(query_vector, dtype=np.float32)
    headings = sorted({u.heading for u in units if u.heading})
    vectors = unit_vectors([u.text for u in units] + headings)  # (units + headings, dim)
    cosine = vectors[: len(units)] @ query
    heading_cos = dict(zip(headings, (vectors[len(units) :] @ query).tolist()))
    heading_cosine = np.array([heading_cos.get(u.heading, 0.0) for u in units], np.float32)

    terms = _stems(question)
    unit_terms = [_stems(u.text) for u in units]
    frequency = {t: sum(t in s for s in unit_terms) for t in terms}
    rarity = {t: math.log(1 + len(units) / (1 + frequency[t])) for t in terms}
    total_rarity = sum(rarity.values()) or 1.0

    def share(found: frozenset[str]) -> float:
        return len(terms & found) / len(terms) if terms else 0.0

    lexical = np.array([share(s) for s in unit_terms], np.float32)
    rare = np.array([sum(rarity[t] for t in terms & s) / total_rarity for s in unit_terms])
    heading_lexical = np.array([share(_stems(u.heading)) for u in units], np.float32)

    scores = np.array([hits[u.n - 1].score for u in units], np.float32)
    per_passage = {n: sum(u.n == n for u in units) for n in {u.n for u in units}}
    order = np.argsort(-cosine, kind="stable")
    cosine_rank = np.empty(len(units), np.float32)
    cosine_rank[order] = 1.0 / (1.0 + np.arange(len(units)))

    asks = question_forms(question)  # (forms,)
    offers = np.array([unit_offers(u.text) for u in units], np.float32)  # (units, forms)
    columns = [
        cosine,
        cosine - cosine.max(),
        cosine_rank,
        heading_cosine,
        heading_cosine - heading_cosine.max(),
        lexical,
        lexical - lexical.max(),
        rare,
        heading_lexical,
        [1.0 / u.n for u in units],
        scores,
        scores - max(hit.score for hit in hits),
        [1.0 / (1 + u.index) for u in units],
        [float(u.index == 0) for u in units],
        [u.index / per_passage[u.n] for u in units],
        [math.log(per_passage[u.n]) for u in units],
        [math.log(1 + len(u.text.split())) for u in units],
        [float(len(u.text.split()) < 6) for u in units],
        [float(bool(label_of(u.text))) for u in units],
    ]
    matrix = np.column_stack([np.asarray(c, dtype=np.float32) for c in columns])
    asks_block = np.broadcast_to(asks, offers.shape)
    # What the unit's section heading offers ("## Desventajas" over items that never say
    # the word): the form a question asks for, met by the heading instead of the unit.
    heading_offers = np.array([unit_offers(u.heading) for u in units], np.float32)
    return np.hstack(
        [matrix, asks_block, offers, asks_block * offers, asks_block * heading_offers]
    ).astype(np.float32)
