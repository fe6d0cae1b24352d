"""Synthetic (sentence, passage, supported?) pairs for training and testing a support scorer.

    python -m assistant.training.support.pairs --out DIR   # writes train.jsonl and heldout.jsonl

(The trainers synthesize them once into their own cache: ``support.train.cached_pairs``.)

Sources, never a held-out question's material:
- the SQuAD-es **train** articles (``eval/data/squad_es/split.json``; never dev or test),
  split in two halves by article: ``train`` and ``heldout`` (paragraphs of one article
  share names and facts, so a split by paragraph would leak);
- the default notes' sections, except those of the held-out question files
  (``selection.train.HELD_OUT``); they all go to ``train``.

Each pair is one sentence against one passage (a SQuAD-es paragraph, or a notes chunk as
``corpus.chunking`` cuts it), of one kind:

supported, as a faithful small model writes them:
- ``verbatim``: a unit of the passage (``passage_units``: a sentence, a list item with its
  label, a table cell);
- ``clause``: one clause cut from a unit;
- ``joined``: two units of the passage in one sentence;
- ``reordered``: a unit's opening phrase ("En 1920, ...") moved to its end;
- ``synonym``: a unit with common words swapped for synonyms (``spanish.yaml``);
- ``relabelled``: a list item with its label written after it.

unsupported, of the kinds real models write:
- ``other_paragraph``: a unit of another passage of the same article or note: on topic,
  plausible, not in this passage;
- ``swapped_entity``: a unit with a name, term or number replaced by another of the same
  article that the passage lacks;
- ``negation``: a unit with its negation flipped;
- ``role_reversal``: two names, numbers or contrast terms of one unit swapped with each
  other (every word stays in the passage);
- ``opposite_list``: an item of an advantages list given as a disadvantage, or the reverse;
- ``invented_clause``: a unit with a clause of another passage appended.

Pure text: no model runs here, so the files are cheap and identical on every machine for a
given seed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.support.claims import (
    content_words,
    has_negation,
    language_data,
    model_names,
    named_terms,
    passage_units,
)
from corpus.text import WORD

SUPPORTED_KINDS = ("verbatim", "clause", "joined", "reordered", "synonym", "relabelled")
UNSUPPORTED_KINDS = (
    "other_paragraph",
    "swapped_entity",
    "negation",
    "role_reversal",
    "opposite_list",
    "invented_clause",
)
SQUAD = Path("../shared/data/squad-es-v2.0-dev-small.json")
SPLIT = Path("eval/data/squad_es/split.json")
NOTES = Path("corpus/notes")
MIN_WORDS = 4  # content words a sentence needs to be a claim worth checking


@dataclass(frozen=True)
class Pair:
    sentence: str
    passage: str
    supported: bool
    kind: str
    group: str  # article title or note file: pairs of one group stay on one side
    source: str  # "squad" or "notes"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Passage:
    text: str
    group: str
    source: str


# -- rewriting one unit ---------------------------------------------------------------------

_CLAUSE_CUT = re.compile(r",\s+|;\s+|\s+y\s+(?=[a-záéíóúñ])")
_OPENING = re.compile(
    r"^((?:En|Durante|Desde|Tras|Después de|Antes de|Según|Para|Con|Por|A partir de|Hasta)"
    r"\s[^,]{3,60}),\s+(.+?)([.!?]?)$"
)
# Openings that link to the sentence before: moved to the end they read wrong.
_CONNECTIVE = re.compile(
    r"^(?:Por (?:lo tanto|tanto|eso|ello|otro lado|otra parte|el contrario|último|fin)|"
    r"Con (?:todo|esto|ello)|Para (?:ello|esto)|Sin embargo)\b"
)
# Verbs a negation goes before: the commonest of the notes and the articles.
_VERBS = re.compile(
    r"\b(es|son|fue|fueron|era|eran|está|están|puede|pueden|tiene|tienen|permite|permiten|"
    r"usa|usan|utiliza|utilizan|requiere|requieren|incluye|incluyen|produce|producen|"
    r"se|ha|han|había|hay|mejora|mejoran|reduce|reducen|aumenta|aumentan)\b"
)
_POSITIVE_LABEL = re.compile(r"\b(ventajas?|beneficios?|pros)\b", re.IGNORECASE)
_NEGATIVE_LABEL = re.compile(r"\b(desventajas?|limitaciones?|inconvenientes?|contras)\b", re.I)


def _sentence(text: str) -> str:
    """Capitalized, one final period."""
    text = " ".join(text.split()).strip(" ,;:")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _words(text: str) -> int:
    return len(content_words(text))


def _split_label(unit: str) -> tuple[str, str]:
    """("Ventajas:", "Menor memoria.") for a list item with its label; ("", unit) otherwise."""
    head, sep, rest = unit.partition(": ")
    if sep and head and len(head) < 80 and rest:
        return head + ":", rest
    return "", unit


def clause(unit: str, rng: random.Random) -> str | None:
    pieces = [p for p in _CLAUSE_CUT.split(_split_label(unit)[1]) if _words(p) >= MIN_WORDS]
    if len(pieces) < 2:
        return None
    return _sentence(rng.choice(pieces))


def joined(first: str, second: str, passage: str) -> str | None:
    first, second = _sentence(first).rstrip(".!?"), _sentence(second)
    if not first or not second:
        return None
    # A name keeps its capital ("..., y Thoreau escribió"); a common word after "y" does not.
    word = second.split()[0]
    if not (model_names(word) or _mid_sentence_capital(word, passage)):
        second = second[0].lower() + second[1:]
    return f"{first}, y {second}"


def _mid_sentence_capital(word: str, passage: str) -> bool:
    """The passage writes ``word`` capitalized after a lowercase word: a name."""
    return bool(re.search(rf"\b[a-záéíóúñ]+\s+{re.escape(word)}\b", passage))


def reordered(unit: str) -> str | None:
    found = _OPENING.match(_split_label(unit)[1].strip())
    if not found or _CONNECTIVE.match(found.group(1)):
        return None
    opening, rest, _ = found.groups()
    opening = opening[0].lower() + opening[1:]
    return _sentence(f"{rest.rstrip('.!?')} {opening}")


def synonym(unit: str, rng: random.Random) -> str | None:
    table = language_data()["synonyms"]
    found = [w for w in WORD.findall(unit) if w.lower() in table]
    if not found:
        return None
    text = unit
    for word in rng.sample(found, k=min(2, len(found))):
        choice = rng.choice(table[word.lower()])
        replacement = choice[0].upper() + choice[1:] if word[0].isupper() else choice
        text = re.sub(rf"\b{re.escape(word)}\b", replacement, text, count=1)
    return _sentence(text) if text != unit else None


def relabelled(unit: str) -> str | None:
    label, item = _split_label(unit)
    if not label:
        return None
    return _sentence(f"{item.rstrip('.!?')} ({label.rstrip(':').strip().lower()})")


def negated(unit: str) -> str | None:
    if has_negation(unit):
        for cue in ("no ", "nunca ", "sin "):
            flipped = re.sub(rf"\b{cue}", "", unit, count=1, flags=re.IGNORECASE)
            if flipped != unit and not has_negation(flipped):
                return _sentence(flipped)
        return None
    flipped = _VERBS.sub(lambda m: f"no {m.group(1)}", unit, count=1)
    return _sentence(flipped) if flipped != unit else None


def _terms(text: str) -> list[str]:
    """Names, numbers and contrast terms as the text writes them, in order of appearance."""
    found = list(dict.fromkeys(named_terms(text).values()))
    found += [m.group() for m in re.finditer(r"\b\d+(?:[.,]\d+)?\b", text)]
    lowered = text.lower()
    for group in language_data()["contrasts"]:
        found += [w for w in group if re.search(rf"\b{re.escape(w)}\b", lowered)]
    return [t for t in dict.fromkeys(found) if len(t) > 1]


def _term_kind(term: str) -> str:
    return "number" if term[0].isdigit() else "name" if term[0].isupper() else "term"


def role_reversal(unit: str, rng: random.Random) -> str | None:
    """Two terms of one kind (names, numbers, contrast terms), each written once in the unit
    and at least three words apart (not two halves of one name: "Estados Unidos"), swapped
    with each other."""
    places = {}
    for term in _terms(unit):
        found = list(re.finditer(rf"(?<![\w-]){re.escape(term)}(?![\w-])", unit))
        if len(found) == 1:
            places[term] = found[0]
    pairs = [
        (a, b)
        for a in places
        for b in places
        if places[a].end() < places[b].start()
        and len(WORD.findall(unit[places[a].end() : places[b].start()])) >= 3
        and a.lower() != b.lower()
        and _term_kind(a) == _term_kind(b)
    ]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    first, second = places[a], places[b]
    swapped = (
        unit[: first.start()] + b + unit[first.end() : second.start()] + a + unit[second.end() :]
    )
    return _sentence(swapped)


def swapped_entity(unit: str, passage: str, elsewhere: list[str], rng) -> str | None:
    """One term of the unit replaced by one of its kind the passage never writes: a number
    by a number of the same article, a name by a name, a contrast term by its partner."""
    lowered = passage.lower()
    options = []
    for old in _terms(unit):
        if _term_kind(old) != "term":
            kin = [t for t in elsewhere if _term_kind(t) == _term_kind(old)]
        else:
            kin = [w for g in language_data()["contrasts"] if old in g for w in g if w != old]
        kin = [t for t in kin if not re.search(rf"\b{re.escape(t.lower())}\b", lowered)]
        if kin:
            options.append((old, kin))
    if not options:
        return None
    old, kin = rng.choice(options)
    swapped = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", rng.choice(kin), unit, count=1)
    return _sentence(swapped) if swapped != unit else None


def opposite_list(unit: str) -> str | None:
    label, item = _split_label(unit)
    if not label:
        return None
    if _NEGATIVE_LABEL.search(label):
        return _sentence(f"Una ventaja es que {item[0].lower() + item[1:]}")
    if _POSITIVE_LABEL.search(label):
        return _sentence(f"Una desventaja es que {item[0].lower() + item[1:]}")
    return None


def invented_clause(unit: str, other: str, rng: random.Random) -> str | None:
    extra = clause(other, rng) or (other if _words(other) <= 12 else None)
    if not extra or _words(extra) < MIN_WORDS:
        return None
    extra = _sentence(extra).rstrip(".!?")
    return f"{_sentence(unit).rstrip('.!?')}, y además {extra[0].lower() + extra[1:]}."


# -- pairs of one passage -------------------------------------------------------------------


def _claim(unit: str) -> bool:
    """A unit worth rewriting: enough words, and no formula or code."""
    return _words(unit) >= MIN_WORDS and not re.search(r"[{}\\^=]", unit)


def _unsupported_by(sentence: str, passage: str) -> bool:
    """A sentence taken from elsewhere is a negative only if the passage does not happen to
    state it too: most of its content words must be missing."""
    words = content_words(sentence)
    return bool(words) and len(words & content_words(passage)) / len(words) < 0.5


def passage_pairs(
    passage: Passage, others: list[Passage], rng: random.Random, per_kind: int = 1
) -> list[Pair]:
    """Up to ``per_kind`` pairs of each kind for one passage; ``others`` are the other
    passages of its article or note (the source of on-topic negatives)."""
    units = [u for u in passage_units(passage.text) if _claim(u)]
    if not units:
        return []
    other_units = [u for o in others for u in passage_units(o.text) if _claim(u)]
    other_terms = list(dict.fromkeys(t for u in other_units for t in _terms(u)))
    makers: dict[str, Callable[[str], str | None]] = {
        "verbatim": lambda u: _sentence(u),
        "clause": lambda u: clause(u, rng),
        "joined": lambda u: joined(u, rng.choice(units), passage.text) if len(units) > 1 else None,
        "reordered": reordered,
        "synonym": lambda u: synonym(u, rng),
        "relabelled": lambda u: relabelled(u) if passage.source == "notes" else None,
        "other_paragraph": lambda u: _sentence(rng.choice(other_units)) if other_units else None,
        "swapped_entity": lambda u: swapped_entity(u, passage.text, other_terms, rng),
        "negation": negated,
        "role_reversal": lambda u: role_reversal(u, rng),
        "opposite_list": lambda u: opposite_list(u) if passage.source == "notes" else None,
        "invented_clause": lambda u: (
            invented_clause(u, rng.choice(other_units), rng) if other_units else None
        ),
    }
    pairs = []
    for kind, make in makers.items():
        made = 0
        for unit in rng.sample(units, len(units)):
            if made >= per_kind:
                break
            sentence = make(unit)
            if not sentence or _words(sentence) < MIN_WORDS:
                continue
            if kind == "joined" and sentence.count(",") < 1:
                continue
            if kind == "other_paragraph" and not _unsupported_by(sentence, passage.text):
                continue
            supported = kind in SUPPORTED_KINDS
            pairs.append(
                Pair(sentence, passage.text, supported, kind, passage.group, passage.source)
            )
            made += 1
    return pairs


def build_pairs(passages: Iterable[Passage], seed: int, per_kind: int = 1) -> list[Pair]:
    by_group: dict[str, list[Passage]] = {}
    for passage in passages:
        by_group.setdefault(passage.group, []).append(passage)
    rng = random.Random(seed)
    pairs = []
    for group in sorted(by_group):
        members = by_group[group]
        for i, passage in enumerate(members):
            others = members[:i] + members[i + 1 :]
            pairs += passage_pairs(passage, others, rng, per_kind)
    return pairs


# -- the sources ------------------------------------------------------------------------------


def squad_passages(squad: Path = SQUAD, split: Path = SPLIT) -> dict[str, list[Passage]]:
    """The SQuAD-es train articles' paragraphs, in two halves by article."""
    from assistant.training.lora.squad import load_squad

    titles = json.loads(split.read_text(encoding="utf-8"))
    held = set(titles["dev"]) | set(titles["test"])
    articles, _ = load_squad(squad)
    train = sorted(a.title for a in articles if a.title in set(titles["train"]))
    assert not held & set(train), "a dev or test article among the training articles"
    random.Random("support-pairs").shuffle(train)
    halves = {"train": set(train[: len(train) // 2]), "heldout": set(train[len(train) // 2 :])}
    return {
        half: [
            Passage(p.context, a.title, "squad")
            for a in articles
            if a.title in chosen
            for p in a.paragraphs
        ]
        for half, chosen in halves.items()
    }


def notes_passages(notes: Path = NOTES) -> list[Passage]:
    """The notes' chunks, less those of the held-out questions' sections."""
    from assistant.training.selection.train import HELD_OUT
    from corpus.chunking import chunk_notes
    from corpus.loader import load_notes
    from corpus.questions import load_questions

    held = {q.section for path in HELD_OUT for q in load_questions(path) if q.section}
    return [
        Passage(chunk.text, chunk.source, "notes")
        for chunk in chunk_notes(load_notes(notes).notes)
        if chunk.section not in held
    ]


def synthesize(seed: int = 0, squad: Path = SQUAD) -> dict[str, list[Pair]]:
    halves = squad_passages(squad)
    return {
        "train": build_pairs(halves["train"] + notes_passages(), seed, per_kind=2),
        "heldout": build_pairs(halves["heldout"], seed + 1, per_kind=1),
    }


def load_pairs(path: Path) -> list[Pair]:
    with open(path, encoding="utf-8") as handle:
        return [Pair(**json.loads(line)) for line in handle if line.strip()]


def main(argv: list[str] | None = None) -> int:
    from corpus.files import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.squad.is_file():
        parser.error(f"no existe el archivo de SQuAD-es {args.squad}")
    args.out.mkdir(parents=True, exist_ok=True)
    for half, pairs in synthesize(args.seed, args.squad).items():
        text = "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in pairs)
        atomic_write_text(args.out / f"{half}.jsonl", text)
        kinds: dict[str, int] = {}
        for p in pairs:
            kinds[p.kind] = kinds.get(p.kind, 0) + 1
        print(json.dumps({"half": half, "pairs": len(pairs), "kinds": kinds}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
