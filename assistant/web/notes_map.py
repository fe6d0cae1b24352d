"""A notebook's notes as a mind map, notes -> sections -> key terms, built from the index's
chunks (no Gradio, no HTML: map_desk.py draws and opens it).

- The tree follows the headings: a note's sections hang from the note, a subsection from
  its section ("A > B > C" hangs from "A > B"). A note whose headings all sit under one
  top heading (its title) is drawn as that heading: the title is the note's node.
- Key terms are the terms the sections share. A candidate is a term the notes mark
  (**bold**, *italics*, 1-3 words) or one shaped like a technical term (BERT, ELMo,
  word2vec); it is kept when it occurs in at least ``min_sections`` sections and in no
  more than ``max_share`` of them (a term everywhere says nothing about any one section),
  the ones in most sections first, up to ``max_terms``. Terms are compared as Spanish
  stems (corpus/text.py's ``analyse``), so "embedding", "embeddings" and "Embeddings" are
  one term; a section linked to a term holds it in its text (a heuristic for these notes'
  style: a term the notes never mark nor write like a name is not found).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Literal

from corpus.errors import SettingsError
from corpus.markdown import WIKILINK, link_text, math_pieces
from corpus.records import Chunk
from corpus.text import analyse

NodeKind = Literal["note", "section", "term"]
EdgeKind = Literal["contains", "mentions"]


@dataclass(frozen=True)
class MapConfig:
    """How many key terms the map shows, and which."""

    # Past ~50 term nodes the term edges hide the tree (measured on the default notes).
    max_terms: int = 48
    min_sections: int = 2  # a key term is one the sections share
    # A term in more than this share of the sections ("modelo") links everything to
    # everything; never below min_sections, so a small notebook still has terms.
    max_share: float = 0.4
    max_words: int = 3  # a longer marked span is a phrase, not a term

    def __post_init__(self) -> None:
        if self.max_terms < 0:
            raise SettingsError(f"max_terms must be >= 0, got {self.max_terms}")
        if self.min_sections < 2:
            raise SettingsError(f"min_sections must be >= 2, got {self.min_sections}")
        if not 0 < self.max_share <= 1:
            raise SettingsError(f"max_share must be in (0, 1], got {self.max_share}")
        if self.max_words < 1:
            raise SettingsError(f"max_words must be >= 1, got {self.max_words}")


@dataclass(frozen=True)
class MapNode:
    """A note, a section or a key term. ``heading``: the heading path a note or section
    stands for (a note without a title: ""); ``text``: its own Markdown, up to its first
    subsection; ``parent``: the node a section hangs from."""

    id: str
    kind: NodeKind
    label: str
    source: str = ""
    heading: str = ""
    text: str = ""
    parent: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class MapEdge:
    start: str  # node ids: a note or section and what it contains, a term and a section
    end: str
    kind: EdgeKind


@dataclass(frozen=True)
class NotesMap:
    nodes: tuple[MapNode, ...]
    edges: tuple[MapEdge, ...]

    def node(self, node_id: str) -> MapNode | None:
        return next((node for node in self.nodes if node.id == node_id), None)

    def linked(self, node_id: str, kind: NodeKind) -> list[MapNode]:
        """The nodes of ``kind`` an edge joins to ``node_id`` (children, terms, sections),
        in the map's order."""
        ids = {e.end for e in self.edges if e.start == node_id}
        ids |= {e.start for e in self.edges if e.end == node_id}
        return [node for node in self.nodes if node.id in ids and node.kind == kind]

    def to_json(self) -> dict:
        """What static/map.js draws: vis-network's nodes (a short label, the full one as
        the tooltip, the kind as the group) and edges."""
        shared = Counter(e.start for e in self.edges if e.kind == "mentions")
        return {
            "nodes": [
                {"id": n.id, "label": short_label(n.label), "title": tooltip(n), "group": n.kind}
                | ({"value": shared[n.id]} if n.kind == "term" else {})
                for n in self.nodes
            ],
            "edges": [{"from": e.start, "to": e.end, "kind": e.kind} for e in self.edges],
        }


# -- the tree ----------------------------------------------------------------------------


def build_map(chunks: Iterable[Chunk], config: MapConfig | None = None) -> NotesMap:
    """The map of ``chunks`` (an index's): each note, its heading tree, its key terms."""
    config = config or MapConfig()
    by_note: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        by_note[chunk.source].append(chunk)
    nodes: list[MapNode] = []
    said: dict[str, list[str]] = {}  # node id -> the texts its terms are read from
    for source in sorted(by_note, key=str.casefold):
        found, images = _note_tree(source, by_note[source])
        nodes += found
        for node in found:
            said[node.id] = [node.text]
        for image in images:  # an image's text belongs to the section showing it
            owner = _owner(image, found, by_note[source])
            said[owner].append(image.text)
    edges = [MapEdge(n.parent, n.id, "contains") for n in nodes if n.parent]
    for term, label, holders in key_terms(said, config):
        nodes.append(MapNode(f"term:{term}", "term", label))
        edges += [MapEdge(f"term:{term}", holder, "mentions") for holder in holders]
    return NotesMap(tuple(nodes), tuple(edges))


def _note_tree(source: str, chunks: list[Chunk]) -> tuple[list[MapNode], list[Chunk]]:
    """(the note's node and its sections' nodes in note order, its image chunks)."""
    images = [c for c in chunks if c.image]
    spans: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in sorted((c for c in chunks if not c.image), key=lambda c: c.start):
        spans[chunk.heading].append(chunk)
    paths = [tuple(h.split(" > ")) for h in spans if h]
    tags = next((c.tags for c in chunks if c.tags), ())
    note_id = f"note:{source}"
    roots = {path[0] for path in paths}
    titled = len(roots) == 1  # one top heading: the note's title
    title = roots.pop() if titled else PurePosixPath(source).stem
    own = [_joined(spans.get("", []))]
    if titled:
        own.append(_joined(spans.pop(title, [])))
    note = MapNode(note_id, "note", title, source, title if titled else "", _para(own), "", tags)
    nodes, ids = [note], {(): note_id}
    if titled:
        ids[(title,)] = note_id
    for path in sorted(set(paths), key=lambda p: _first_start(spans, p)):
        for depth in range(1, len(path) + 1):  # a heading with no text of its own too
            part = path[:depth]
            if part in ids:
                continue
            heading = " > ".join(part)
            parent = ids[max((p for p in ids if part[: len(p)] == p), key=len)]
            ids[part] = f"section:{source}#{heading}"
            text = _joined(spans.get(heading, []))
            nodes.append(
                MapNode(ids[part], "section", part[-1], source, heading, text, parent, tags)
            )
    return nodes, images


def _first_start(spans: dict[str, list[Chunk]], path: tuple[str, ...]) -> int:
    chunks = spans.get(" > ".join(path))
    return chunks[0].start if chunks else -1


def _joined(chunks: list[Chunk]) -> str:
    """One section's chunks as its text: their overlaps once (chunk.text is
    note.text[start:end])."""
    text, end = "", None
    for chunk in chunks:
        if end is None or chunk.start >= end:
            text += ("\n\n" if end is not None and chunk.start > end else "") + chunk.text
        else:
            text += chunk.text[end - chunk.start :]
        end = chunk.end if end is None else max(end, chunk.end)
    return text


def _para(texts: list[str]) -> str:
    return "\n\n".join(t for t in texts if t.strip())


def _owner(image: Chunk, nodes: list[MapNode], chunks: list[Chunk]) -> str:
    """The node whose text holds an image's embed (the note's, when none does)."""
    for chunk in chunks:
        if not chunk.image and chunk.start <= image.start < chunk.end:
            return next(
                (n.id for n in nodes if n.kind == "section" and n.heading == chunk.heading),
                nodes[0].id,
            )
    return nodes[0].id


# -- key terms ---------------------------------------------------------------------------

_FENCED = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.S | re.M)
_TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_MARKED = re.compile(
    r"\*\*(?P<bold>[^*\n]+?)\*\*|(?<![\w*])\*(?P<em>[^*\s][^*\n]*?)(?<!\s)\*(?![\w*])"
    r"|(?<![\w_])_(?P<em2>[^_\s][^_\n]*?)(?<!\s)_(?![\w_])"
)
# BERT, RNNs, ELMo, GloVe, word2vec, F1: shaped like a name, marked or not.
_TECHNICAL = re.compile(r"^(?:[A-Z]{2,}s?|[A-Z][a-z]+[A-Z]\w*|[A-Za-z]+\d\w*)$")


def key_terms(said: dict[str, list[str]], config: MapConfig) -> list[tuple[str, str, list[str]]]:
    """(term key, label, the ids whose texts hold it) for the terms the texts of ``said``
    (node id -> its Markdown texts) share, most widely shared first."""
    grams: dict[str, set[tuple[str, ...]]] = {}
    marked: Counter[tuple[str, ...]] = Counter()  # how often the notes mark the term
    labels: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    used: Counter[str] = Counter()  # how often each word occurs, however written
    for node_id, texts in said.items():
        prose = _prose("\n\n".join(texts))
        keys = term_keys(prose)
        used.update(keys)
        grams[node_id] = {
            tuple(keys[i : i + n])
            for n in range(1, config.max_words + 1)
            for i in range(len(keys) - n + 1)
        }
        for span in _candidates(prose, config.max_words):
            term = tuple(term_keys(span))
            if term and len(span) >= 3:
                marked[term] += 1
                labels[term][span] += 1
    most = max(config.min_sections, math.ceil(config.max_share * len(said)))
    ranked = []
    for term in marked:
        holders = [node for node, found in grams.items() if term in found]
        if config.min_sections <= len(holders) <= most and _is_term(term, labels[term], used):
            ranked.append((term, holders))
    ranked.sort(key=lambda found: (-len(found[1]), -marked[found[0]], found[0]))
    kept: list[tuple[tuple[str, ...], list[str]]] = []
    for term, holders in ranked:
        if len(kept) >= config.max_terms:
            break
        if not any(_same_idea(term, holders, other, theirs) for other, theirs in kept):
            kept.append((term, holders))
    return [(" ".join(term), _label(labels[term]), holders) for term, holders in kept]


def _is_term(term: tuple[str, ...], spellings: Counter[str], used: Counter[str]) -> bool:
    """Marked twice, or shaped like a name; a word shaped like one but mostly written
    otherwise ("[LUGAR]" beside "lugar") is not one."""
    shaped = sum(n for spelling, n in spellings.items() if _TECHNICAL.match(spelling))
    if spellings.total() - shaped >= 2:
        return True
    return shaped > 0 and (len(term) > 1 or 2 * shaped >= used[term[0]])


def term_keys(text: str) -> list[str]:
    """The words of ``text`` as terms are compared: each one's stem, accents folded,
    stopwords left out ("los *Transformers*" -> ["transform"])."""
    return [key for key in map(_key, _TOKEN.findall(text)) if key]


def _prose(markdown: str) -> str:
    """The words a reader reads: no code blocks, formulas or link targets."""
    text = _FENCED.sub(" ", markdown)
    text = "".join(" " if formula else piece for piece, formula in math_pieces(text))
    return WIKILINK.sub(link_text, text)


def _candidates(prose: str, max_words: int) -> Iterable[str]:
    """The spans the notes mark as terms, and the words shaped like one."""
    for match in _MARKED.finditer(prose):
        span = next(group for group in match.groups() if group).strip(" :.,;")
        if 1 <= len(_TOKEN.findall(span)) <= max_words:
            yield span
    yield from (token for token in _TOKEN.findall(prose) if _TECHNICAL.match(token))


@lru_cache(maxsize=50_000)
def _key(token: str) -> str:
    """A word as a term's part: its Spanish stem, accents folded ("" for a stopword). A
    plural "s" goes first: the Spanish stemmer leaves "transformers" and "embeddings"."""
    word = token[:-1] if len(token) > 3 and token[-1] in "sS" and token[-2] not in "sS" else token
    stem = "-".join(analyse(word.replace("-", " ")))
    return "" if stem.isdigit() or len(stem) < 2 else stem


def _same_idea(
    term: tuple[str, ...], holders: list[str], other: tuple[str, ...], theirs: list[str]
) -> bool:
    """One term inside the other ("reward", "reward model") and mostly in the same
    sections: the map shows the one already kept."""
    short, long = sorted((term, other), key=len)
    inside = any(long[i : i + len(short)] == short for i in range(len(long) - len(short) + 1))
    shared = len(set(holders) & set(theirs))
    return inside and shared * 3 >= 2 * min(len(holders), len(theirs))


def _label(spellings: Counter[str]) -> str:
    """The spelling the notes use most; a capitalised one when tied ("Transformer")."""
    return max(spellings, key=lambda s: (spellings[s], s[:1].isupper(), -len(s)))


# -- labels ------------------------------------------------------------------------------


def short_label(label: str, limit: int = 48) -> str:
    label = " ".join(label.split())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def tooltip(node: MapNode) -> str:
    if node.kind == "term":
        return f"Término: {node.label}"
    where = node.source if node.kind == "note" else f"{node.source} — {node.heading}"
    tags = f" · #{' #'.join(node.tags)}" if node.tags and node.kind == "note" else ""
    return where + tags
