"""The map tab's logic without Gradio: the map of the index's chunks (notes_map.py) as the
page draws it, and the panel of a clicked node.

``map_html`` hands the graph to static/map.js (vis-network, vendored in static/vis/) as
JSON in a data attribute; a click comes back as the node's id (the hidden #map-target
box) and ``MapDesk.open`` answers with the node's panel: a note's or section's own text
(rendered as the note preview renders it: raw HTML off, its [[links]] and images live),
its subsections and key terms as chips that open them, its cards from the study deck, and
a question for the chat; a term's panel lists the sections that share it. Every piece of
text from the notes is escaped.
"""

from __future__ import annotations

import html
import json
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from assistant.study.cards import Card
from assistant.study.deck import Deck
from assistant.study.rules import list_question, question_of
from assistant.web.card_html import KIND_LABELS, face_html
from assistant.web.markdown_html import passage_html
from assistant.web.note_images import NoteLinks
from assistant.web.notes_map import MapConfig, MapNode, NotesMap, build_map, short_label, tooltip
from corpus.errors import AssistantError
from corpus.markdown import HEADING
from corpus.records import Chunk
from corpus.text import strip_question_number

EMPTY = "Aún no hay notas en este cuaderno: añádelas en la pestaña Notas."
GONE = "Esta parte ya no está en tus notas (se reindexaron): vuelve a abrir la pestaña Mapa."


@dataclass(frozen=True)
class MapSelection:
    """What a clicked node shows: its panel (HTML) and a question for the chat ("": none)."""

    html: str
    question: str = ""


class MapDesk:
    """The map of an index's chunks, built once per set of chunks (every browser shares
    it), and the panel of a clicked node."""

    def __init__(self, config: MapConfig | None = None) -> None:
        self.config = config or MapConfig()
        self._lock = threading.Lock()
        self._built: tuple[tuple[str, ...], NotesMap] | None = None

    def notes_map(self, chunks: list[Chunk]) -> NotesMap:
        ids = tuple(chunk.id for chunk in chunks)
        with self._lock:
            if self._built is None or self._built[0] != ids:
                self._built = (ids, build_map(chunks, self.config))
            return self._built[1]

    def view(self, chunks: list[Chunk]) -> str:
        return map_html(self.notes_map(chunks))

    def open(
        self, node_id: str, chunks: list[Chunk], notes_dir: Path, deck_path: Path
    ) -> MapSelection:
        """The panel of ``node_id`` and its question; the cards are the deck's at
        ``deck_path``, the links and images those of ``notes_dir``."""
        notes_map = self.notes_map(chunks)
        node = notes_map.node(node_id)
        if node is None:
            return MapSelection(_panel("", GONE))
        if node.kind == "term":
            places = notes_map.linked(node.id, "note") + notes_map.linked(node.id, "section")
            body = _chips(f"Aparece en {len(places)} secciones", places)
            return MapSelection(
                _panel(node.id, f"Término · {node.label}", body), f"¿Qué es {node.label}?"
            )
        text = _without_heading(node.text)
        passage = ""
        if text.strip():
            links = NoteLinks(notes_dir, sorted({chunk.source for chunk in chunks}))
            body = passage_html(
                text, node.source, notes=links.notes, images=links.images(node.source)
            )
            passage = f'<article class="source-card map-passage">{body}</article>'
        body = "".join(
            [
                f'<div class="map-where">{html.escape(tooltip(node))}</div>',
                passage,
                _chips("Secciones", notes_map.linked(node.id, "section")),
                _chips("Términos clave", notes_map.linked(node.id, "term")),
                _cards_html(node, deck_path),
            ]
        )
        kind = "Nota" if node.kind == "note" else "Sección"
        parent = notes_map.node(node.parent)
        return MapSelection(
            _panel(node.id, f"{kind} · {node.label}", body), _question(node, parent)
        )


def map_html(notes_map: NotesMap) -> str:
    """The map's element: static/map.js draws the JSON of its data-graph."""
    if not notes_map.nodes:
        return f'<div class="map-empty">{html.escape(EMPTY)}</div>'
    graph = html.escape(json.dumps(notes_map.to_json(), ensure_ascii=False), quote=True)
    counts = Counter(node.kind for node in notes_map.nodes)
    legend = "".join(
        f'<span class="map-key {kind}">{counts[kind]} {name}</span>'
        for kind, name in (("note", "notas"), ("section", "secciones"), ("term", "términos clave"))
    )
    return (
        f'<div class="notes-map" data-graph="{graph}">'
        f'<div class="map-legend">{legend}<span class="map-help">Rueda del ratón: acercar · '
        "arrastrar: mover · pulsa un nodo para abrirlo</span></div>"
        '<div class="map-canvas"></div></div>'
    )


def section_cards(deck_path: Path, source: str, heading: str) -> list[Card]:
    """The active cards of one section, in note order; none while the deck is not built."""
    if not Path(deck_path).is_file():
        return []
    with Deck.open(deck_path) as deck:  # read only: no schedule nor notes folder to record
        return [
            row.card
            for row in deck.cards()
            if (row.card.source, row.card.heading) == (source, heading)
        ]


def _question(node: MapNode, parent: MapNode | None) -> str:
    """What the chat is asked about a note or section: its heading when it is a question,
    a list heading's question ("¿Cuáles son las ventajas de ...?"), else about its title
    (within its parent's, for a section)."""
    above = parent.label if parent is not None else ""
    asked = question_of(node.label) or list_question(node.label, above)
    if asked:
        return asked
    title = strip_question_number(node.label)
    if above and node.kind == "section":
        return f"¿Qué dicen mis notas sobre «{title}» en «{strip_question_number(above)}»?"
    return f"¿Qué dicen mis notas sobre «{title}»?"


def _cards_html(node: MapNode, deck_path: Path) -> str:
    """The section's cards: each front, its back behind a click (a <details>)."""
    try:
        cards = section_cards(deck_path, node.source, node.heading)
    except AssistantError as err:
        return _subtitle(f"Las tarjetas no se pudieron leer: {err}")
    if not cards:
        return _subtitle("Esta sección no tiene tarjetas.")
    shown = "".join(
        '<details class="map-card"><summary>'
        f'<span class="map-card-kind">{KIND_LABELS[card.kind]}</span> {face_html(card.front)}'
        f'</summary><div class="map-card-back">{face_html(card.back)}</div></details>'
        for card in cards
    )
    return f'<div class="map-cards">{_subtitle(f"Tarjetas de esta sección ({len(cards)})")}{shown}</div>'


def _without_heading(text: str) -> str:
    """A section's text without its heading line (the panel's title says it)."""
    first, _, rest = text.lstrip("\n").partition("\n")
    return rest.lstrip("\n") if HEADING.match(first) else text


def _subtitle(text: str) -> str:
    return f'<div class="map-subtitle">{html.escape(text)}</div>'


def _chips(title: str, nodes: list[MapNode]) -> str:
    """Buttons that open ``nodes`` (map.js selects them in the map and opens their panel)."""
    if not nodes:
        return ""
    chips = "".join(
        f'<button class="map-chip {node.kind}" data-node="{html.escape(node.id)}" '
        f'title="{html.escape(node.label)}">{html.escape(short_label(node.label, 40))}</button>'
        for node in nodes
    )
    return f'<div class="map-chips">{_subtitle(title)}{chips}</div>'


def _panel(node_id: str, title: str, body: str = "") -> str:
    return (
        f'<div class="map-detail" data-node="{html.escape(node_id)}">'
        f'<div class="map-title">{html.escape(title)}</div>{body}</div>'
    )
