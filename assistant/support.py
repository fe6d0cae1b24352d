"""Support checker: how well do the notes back each sentence of an answer?

``SupportChecker.scores(sentences, passages)`` gives a (n_sentences, n_passages) matrix in
[0, 1]; ``supported(score)`` applies the threshold chosen on the labeled dev set
(``eval/data/support_dev.jsonl``, ``eval/bench_support.py``, ``docs/results/support.json``).

Method, per (sentence, passage) pair
------------------------------------
1. **Units.** The passage is cut into the pieces one answer sentence could restate: each
   sentence of a Markdown line (pysbd, Spanish rules); a list item prefixed with the label
   it hangs from ("Encoder: Procesa la secuencia de entrada.", since the notes put a
   list's subject in its label); a table cell with its row and column names ("Complejidad
   — RNN: Menor complejidad"). Headings (questions here) and bare labels are not units.
2. **Semantic** (e5): the best cosine between the sentence and any unit, rescaled from
   [cosine_floor, cosine_ceiling] to [0, 1]. Against units, one on-point line of a long
   chunk is not diluted by the rest. It separates off-topic and invented sentences and
   rewards paraphrases that share few words with the notes, but it barely sees negation,
   swapped terms or numbers: e5 puts "BERT usa MLM..." and "GPT usa MLM..." at 0.96.
3. **Lexical**: the share of the sentence's content words (``index.bm25.analyse``:
   stopwords out, Snowball stems, accents folded) found anywhere in the passage. It gives
   off-topic and invented sentences a low absolute score and sees terms the passage lacks.
4. **Checks**, each a multiplicative penalty (the *aligned unit* is the best-cosine one):
   - negation flip: the sentence and its aligned unit disagree on having a negation cue
     ("no", "nunca", "sin", "ni", "en lugar de", "evita"...; "... o no" is not one);
   - swapped term: the sentence has a term the aligned unit lacks while the unit has, in
     the same group, one the sentence lacks. Groups: model names written like code or
     acronyms (BERT, GPT, LoRA, T5), and the contrast pairs of ``SupportConfig.contrasts``
     (encoder/decoder, teacher/student, mayor/menor...);
   - foreign name: a name in the sentence (code-like, or capitalized mid-sentence:
     "Transformers", "Google") that the passage never writes;
   - changed number: a number in the sentence (digits, or "dos".."doce") that the passage
     does not contain (list markers and heading numbers are not numbers).

score = (semantic_weight * semantic + (1 - semantic_weight) * lexical) * penalties, so a
verbatim sentence scores ~1 and any one fired check halves it or more.
``eval/bench_support.py`` reports the AUC of each component alone and of the mix.

Special sentences
-----------------
- The abstention sentence ("No encuentro esto en tus notas.", any case or accents) makes
  no claim about the notes, so there is nothing to flag: it scores 1 everywhere. (The
  answer pipeline withdraws such answers before checking; this is for other callers.)
- A sentence with fewer than ``min_claim_words`` content words ("Sí.", "Exacto.",
  "Sí, BERT.") is an assent to the claim beside it, and e5 is unreliable on so little
  text: it takes the scores of the next full claim of the answer, else the previous one.
  Alone in an answer it keeps its own score, which is 0 when it has no content word.
- An empty sentence, and any sentence against an empty passage, scores 0.

Known limits
------------
- A role reversal inside one unit ("ROUGE para traducción y BLEU para resúmenes", "del peor
  al mejor", "el encoder es como el decoder") keeps every term present: no check fires
  and e5 drops only a little. This is most of the swapped_term misses in the results.
- The contrast groups are a short hand-written list for these notes (model names need
  none); antonyms outside it pass the swapped-term check.
- A faithful paraphrase that drops or adds a negation ("aparecen solo cuando..." for "no
  están presentes en modelos pequeños pero aparecen cuando...") is penalised.
- Numbers written as words beyond "doce", ordinals and symbols ("n+1" vs "n-1") are not
  compared.
- A plausible invented claim built from the passage's own words and names is caught only
  by e5; the notes hold no knowledge outside themselves to contradict it.

Speed: a unit's vector is cached by content hash in memory and on disk
(``EmbeddingCache``), so a passage is embedded once ever; each answer sentence costs one
e5 call. ``warm(passages)`` embeds the units ahead of time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from assistant.language import is_spanish
from assistant.prompts import is_abstention
from corpus.errors import SettingsError
from corpus.text import WORD as _WORD
from corpus.text import analyse, fold_accents, sentences
from corpus.text import stems as _stems
from index.cache import EmbeddingCache, default_cache_dir, embedding_key
from index.embedders.base import Embedder

log = logging.getLogger(__name__)

# Contrast groups for the swapped-term check: words a small model swaps for their partner
# while the sentence stays fluent. Compared as stems, so inflections match.
DEFAULT_CONTRASTS: tuple[tuple[str, ...], ...] = (
    ("encoder", "decoder"),
    ("bidireccional", "unidireccional"),
    ("izquierda", "derecha"),
    ("anterior", "posterior", "futuro"),
    ("previo", "posterior", "futuro"),
    ("teacher", "student"),
    ("entrenamiento", "inferencia"),
    ("soft", "hard"),
    ("supervisado", "refuerzo"),
    ("mayor", "menor"),
    ("más", "menos"),
    ("alta", "baja"),
    ("alto", "bajo"),
    ("grandes", "pequeños"),
    ("rápidamente", "lentamente"),
    ("primeras", "últimas"),
    ("fijos", "aprendibles"),
    ("densa", "dispersa"),
    ("local", "global"),
    ("suma", "concatenación", "multiplican"),
    ("linealmente", "exponencialmente"),
    ("opcional", "obligatorio"),
    ("mejor", "peor"),
    ("promediar", "concatenar"),
)

NEGATION_CUES: tuple[str, ...] = (
    "no",
    "nunca",
    "jamás",
    "ni",
    "tampoco",
    "sin",
    "ningún",
    "ninguna",
    "ninguno",
    "nada",
    "nadie",
    "en lugar de",
    "en vez de",
    # negative predicates: "evita que X" says what "que no X" says
    "evitar",
    "evita",
    "evitan",
    "impide",
    "impiden",
    "impedir",
)

# Spelled numbers a sentence may use for a digit of the notes; "uno/una" are left out
# because they are mostly articles.
NUMBER_WORDS = {
    "dos": "2",
    "tres": "3",
    "cuatro": "4",
    "cinco": "5",
    "seis": "6",
    "siete": "7",
    "ocho": "8",
    "nueve": "9",
    "diez": "10",
    "once": "11",
    "doce": "12",
}


@dataclass(frozen=True)
class SupportConfig:
    """How a sentence's support is scored. Chosen on eval/data/support_dev.jsonl."""

    # Picked on all 360 dev rows by eval/bench_support.py (best F1 of "not supported"); the
    # thresholds picked on either half of the sections were 0.75 and 0.79, and their
    # held-out precision/recall are in docs/results/support.json. A verbatim sentence with
    # one fired check (x0.5) falls below it.
    threshold: float = 0.7535
    # e5 and word overlap each see what the other misses (AUC of each alone in the results).
    semantic_weight: float = 0.5
    # e5 cosines of unrelated Spanish sentences sit near 0.78 and of paraphrases above 0.9:
    # this range is stretched to [0, 1].
    cosine_floor: float = 0.80
    cosine_ceiling: float = 0.95
    # Multipliers applied when a check fires: strong enough to drop a near-verbatim
    # sentence below the threshold on its own.
    negation_penalty: float = 0.5
    swap_penalty: float = 0.5
    number_penalty: float = 0.4
    foreign_name_penalty: float = 0.6
    # Embed answer sentences as e5 "query:" (asymmetric) or "passage:" like the units.
    sentence_role: Literal["query", "passage"] = "passage"
    # Fewer content words than this ("Sí.", "Exacto.") is an assent, not a claim: such a
    # sentence takes the score of the claim next to it.
    min_claim_words: int = 2
    contrasts: tuple[tuple[str, ...], ...] = field(default=DEFAULT_CONTRASTS)

    def __post_init__(self) -> None:
        for name in (
            "threshold",
            "semantic_weight",
            "negation_penalty",
            "swap_penalty",
            "number_penalty",
            "foreign_name_penalty",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SettingsError(f"{name} must be in [0, 1], got {value}")
        if not -1.0 <= self.cosine_floor < self.cosine_ceiling <= 1.0:
            raise SettingsError(
                f"need -1 <= cosine_floor < cosine_ceiling <= 1, got "
                f"cosine_floor={self.cosine_floor}, cosine_ceiling={self.cosine_ceiling}"
            )
        if self.sentence_role not in ("query", "passage"):
            raise SettingsError(
                f"sentence_role must be 'query' or 'passage', got {self.sentence_role!r}"
            )
        if self.min_claim_words < 1:
            raise SettingsError(f"min_claim_words must be >= 1, got {self.min_claim_words}")
        if any(len(group) < 2 for group in self.contrasts):
            raise SettingsError(f"contrasts: every group needs >= 2 terms, got {self.contrasts}")


@dataclass(frozen=True)
class SupportParts:
    """The components of one (sentence, passage) score, for the benchmark and debugging."""

    cosine: float  # best e5 cosine between the sentence and a unit of the passage
    semantic: float  # that cosine rescaled to [0, 1]
    lexical: float  # share of the sentence's content words found in the passage
    negation_flip: bool
    swapped_term: bool
    missing_numbers: tuple[str, ...]
    foreign_names: tuple[str, ...]  # names in the sentence that the passage never uses
    unit: str  # the aligned unit
    # The sentence is not in the notes' language (an answer to an English question): word
    # overlap and the Spanish negation and contrast cues mean nothing across languages, so
    # only e5 (multilingual), numbers and names are used.
    cross_lingual: bool = False


# -- text pieces -------------------------------------------------------------------------

_CODE_LIKE = re.compile(r"(?=\w*[A-Z]\w*[A-Z0-9])[A-Za-z]\w*|[A-Za-z]+\d\w*")  # BERT, LoRA, T5
_CAPITALIZED = re.compile(r"[A-ZÁÉÍÓÚÑ]\w*")
_STARTS = ".:;!?¿¡([—-\"“«'•"  # after these a capital starts a sentence or label
_NUMBER = re.compile(r"(?<![^\W\d_])\d+(?:[.,]\d+)*")  # not inside a name: Word2Vec, T5
_LIST_MARKER = re.compile(r"^(?:[-*+]|\d+[.)])\s+")
_HEADING = re.compile(r"^#{1,6}\s+(?:\d+\.\s*)?")
_MARKUP = re.compile(r"[*_`$]+|\\text\{|\\(?:left|right|frac|sqrt|dots)")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")


def _normalize(text: str) -> str:
    return " ".join(fold_accents(text.lower()).split())


def _clean_line(line: str) -> str:
    return " ".join(_MARKUP.sub("", _HEADING.sub("", line)).split())


@lru_cache(maxsize=4096)
def passage_units(passage: str) -> tuple[str, ...]:
    """The passage cut into units that a single answer sentence could restate.

    Sentences of each line, list items prefixed with the label line they hang from, table
    cells with their row and column names. Headings (questions in these notes) and lines
    that are only a label ("Ventajas:") are context, not units. Cached: the same chunk
    comes back for many questions.
    """
    units: list[str] = []
    labels: list[tuple[int, bool, str]] = []  # (indent, is list item, label text)
    header: list[str] = []  # the current table's header cells
    in_fence = False
    for raw in passage.splitlines():
        stripped = raw.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if not stripped or _TABLE_RULE.match(stripped):
            continue
        if stripped.startswith("|"):
            cells = [_clean_line(c) for c in stripped.strip("|").split("|")]
            if not header:
                header = cells
                continue
            # One unit per cell: a row mixes pros and cons, which would blur the checks.
            units.extend(f"{cells[0]} — {h}: {c}" for h, c in zip(header[1:], cells[1:]))
            continue
        header = []
        if in_fence:
            units.append(stripped)
            continue
        if stripped.startswith("#"):  # a heading asks a question; it states nothing
            labels.clear()
            continue
        indent = len(raw) - len(raw.lstrip())
        is_item = bool(_LIST_MARKER.match(stripped))
        text = _clean_line(_LIST_MARKER.sub("", stripped))
        # A label governs deeper lines, and list items at its own depth when it is a
        # paragraph ("Ventajas de LoRA:" over "- Menor uso de memoria").
        while labels and not (
            labels[-1][0] < indent or (labels[-1][0] == indent and is_item and not labels[-1][1])
        ):
            labels.pop()
        context = labels[-1][2] if labels else ""
        if text.endswith(":"):
            labels.append((indent, is_item, text))
            continue
        for sentence in sentences(text):
            sentence = sentence.strip()
            if _WORD.search(sentence):
                units.append(f"{context} {sentence}" if context else sentence)
    return tuple(units)


def content_words(text: str) -> set[str]:
    return set(analyse(text))


def numbers(text: str) -> set[str]:
    """Numbers as canonical strings: '15%' -> '15', '0,85' -> '0.85', 'dos' -> '2'.

    Ordered-list markers and heading numbers are not numbers of the content.
    """
    body = "\n".join(
        _HEADING.sub("", _LIST_MARKER.sub("", line.strip())) for line in text.splitlines()
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
    return _profile(passage).words


def foreign_names(sentence: str, passage: str) -> tuple[str, ...]:
    """Names in the sentence that the passage never writes (any case, plural or not)."""
    return tuple(sorted(names(sentence) - _profile(passage).words))


@dataclass(frozen=True)
class _PassageProfile:
    content_words: frozenset[str]
    numbers: frozenset[str]
    words: frozenset[str]  # every word, lowercased, folded, singular: for names


@lru_cache(maxsize=4096)
def _profile(passage: str) -> _PassageProfile:
    """What every sentence is compared with, computed once per passage text."""
    words = frozenset(_singular(w) for w in _WORD.findall(fold_accents(passage.lower())))
    return _PassageProfile(frozenset(content_words(passage)), frozenset(numbers(passage)), words)


# -- the checker -------------------------------------------------------------------------


class Checker(Protocol):
    """What the answer path needs of a support checker (tests pass a word-overlap fake)."""

    def scores(self, sentences: list[str], passages: list[str]) -> np.ndarray:
        """(len(sentences), len(passages)) support in [0, 1]."""
        ...

    def supported(self, score: float) -> bool: ...


class SupportChecker:
    """Scores answer sentences against retrieved passages (see the module docstring)."""

    def __init__(
        self,
        embedder: Embedder | None = None,
        config: SupportConfig | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        """``embedder`` defaults to e5-small, loaded on first use; ``cache_dir`` to the
        study assistant's cache (STUDY_ASSISTANT_CACHE)."""
        self.config = config or SupportConfig()
        self._embedder = embedder
        self._cache_dir = cache_dir
        self._disk: EmbeddingCache | None = None
        self._vectors: dict[str, np.ndarray] = {}  # unit key -> (dim,) vector
        self._contrasts = [frozenset(_stems(" ".join(group))) for group in self.config.contrasts]

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:  # loaded on first use: building a checker stays cheap
            from index.embedders import get_embedder

            self._embedder = get_embedder("e5-small")
        return self._embedder

    def supported(self, score: float) -> bool:
        return float(score) >= self.config.threshold

    # -- embeddings ----------------------------------------------------------------------

    def _disk_cache(self) -> EmbeddingCache:
        if self._disk is None:
            root = self._cache_dir or default_cache_dir()
            # A file of its own: many small vectors, kept apart from the index's chunk cache.
            self._disk = EmbeddingCache(root, f"{self.embedder.name}.support-units")
        return self._disk

    def unit_vectors(self, units: list[str]) -> np.ndarray:
        """(len(units), dim) vectors, embedding only units never seen before."""
        name = self.embedder.name
        keys = [embedding_key(name, unit) for unit in units]
        missing = [k for k in dict.fromkeys(keys) if k not in self._vectors]
        if missing:
            self._vectors.update(self._disk_cache().get_many(missing))
            todo = {k: u for k, u in zip(keys, units) if k not in self._vectors}
            if todo:
                fresh = self.embedder.embed_passages(list(todo.values()))
                new = dict(zip(todo, np.asarray(fresh, dtype=np.float32)))
                self._vectors.update(new)
                cache = self._disk_cache()
                cache.put_many(new)
                try:
                    cache.save()
                except OSError as err:  # a read-only cache only costs re-embedding later
                    log.warning("could not save support embeddings to %s: %s", cache.path, err)
        if not keys:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.vstack([self._vectors[k] for k in keys])

    def _sentence_vectors(self, sentences: list[str]) -> np.ndarray:
        if self.config.sentence_role == "query":
            return np.vstack([self.embedder.embed_query(s) for s in sentences])
        return np.asarray(self.embedder.embed_passages(sentences), dtype=np.float32)

    def warm(self, passages: list[str]) -> None:
        """Embed every unit of these passages now (e.g. all chunks after indexing)."""
        self.unit_vectors([u for p in passages for u in passage_units(p)])

    # -- scoring -------------------------------------------------------------------------

    def parts(self, sentences: list[str], passages: list[str]) -> list[list[SupportParts | None]]:
        """Components per (sentence, passage); None where a sentence is not checkable
        (abstention, no content word) or the passage is empty."""
        checkable = [
            i
            for i, s in enumerate(sentences)
            if not is_abstention(s) and content_words(s) | numbers(s)
        ]
        table: list[list[SupportParts | None]] = [[None] * len(passages) for _ in sentences]
        units = [list(passage_units(p)) for p in passages]
        flat = [u for group in units for u in group]
        if not checkable or not flat:
            return table
        unit_matrix = self.unit_vectors(flat)  # (n_units, dim)
        sentence_matrix = self._sentence_vectors([sentences[i] for i in checkable])
        cosines = sentence_matrix @ unit_matrix.T  # (n_checkable, n_units)
        bounds = np.cumsum([0] + [len(g) for g in units])
        low, high = self.config.cosine_floor, self.config.cosine_ceiling
        for row, i in enumerate(checkable):
            sentence = sentences[i]
            words, nums, named = content_words(sentence), numbers(sentence), model_names(sentence)
            stems = _stems(sentence)
            cross_lingual = not is_spanish(sentence)
            for j, passage in enumerate(passages):
                if bounds[j] == bounds[j + 1]:
                    continue
                segment = cosines[row, bounds[j] : bounds[j + 1]]
                best = int(segment.argmax())
                unit = units[j][best]
                semantic = float(np.clip((segment[best] - low) / (high - low), 0.0, 1.0))
                profile = _profile(passage)
                lexical = len(words & profile.content_words) / len(words) if words else 1.0
                table[i][j] = SupportParts(
                    cosine=float(segment[best]),
                    semantic=semantic,
                    lexical=lexical,
                    negation_flip=has_negation(sentence) != has_negation(unit),
                    swapped_term=self._swapped(stems, named, unit),
                    foreign_names=foreign_names(sentence, passage),
                    missing_numbers=tuple(sorted(nums - profile.numbers)),
                    unit=unit,
                    cross_lingual=cross_lingual,
                )
        return table

    def _swapped(self, stems: set[str], named: set[str], unit: str) -> bool:
        unit_stems, unit_names = _stems(unit), model_names(unit)
        if named - unit_names and unit_names - named:
            return True
        for group in self._contrasts:
            ours, theirs = stems & group, unit_stems & group
            if ours - theirs and theirs - ours:
                return True
        return False

    def combine(self, parts: SupportParts) -> float:
        config = self.config
        if parts.cross_lingual:
            score = parts.semantic
            if parts.missing_numbers:
                score *= config.number_penalty
            if parts.foreign_names:
                score *= config.foreign_name_penalty
            return float(np.clip(score, 0.0, 1.0))
        weight = config.semantic_weight
        score = weight * parts.semantic + (1 - weight) * parts.lexical
        if parts.negation_flip:
            score *= config.negation_penalty
        if parts.swapped_term:
            score *= config.swap_penalty
        if parts.missing_numbers:
            score *= config.number_penalty
        if parts.foreign_names:
            score *= config.foreign_name_penalty
        return float(np.clip(score, 0.0, 1.0))

    def scores(self, sentences: list[str], passages: list[str]) -> np.ndarray:
        """(len(sentences), len(passages)) support in [0, 1]."""
        matrix = np.zeros((len(sentences), len(passages)), dtype=np.float32)
        if not sentences or not passages:
            return matrix
        table = self.parts(sentences, passages)
        claims: list[int] = []  # sentences that stand on their own
        for i, sentence in enumerate(sentences):
            if is_abstention(sentence):
                matrix[i] = 1.0
                continue
            matrix[i] = [self.combine(p) if p is not None else 0.0 for p in table[i]]
            if len(content_words(sentence)) >= self.config.min_claim_words:
                claims.append(i)
        for i, sentence in enumerate(sentences):
            if i in claims or is_abstention(sentence) or not _WORD.search(sentence):
                continue  # an empty sentence stays at 0
            # "Sí." or "Exacto." assents to the claim beside it: take the next claim's
            # scores, else the previous one's; alone, it keeps its own (0 when empty).
            after = [k for k in claims if k > i]
            before = [k for k in claims if k < i]
            neighbour = after[0] if after else (before[-1] if before else None)
            if neighbour is not None:
                matrix[i] = matrix[neighbour]
        return matrix
