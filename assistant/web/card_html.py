"""The study tab's card, passage, proposed grade and statistics as HTML and Markdown.

As in assistant/web/answer_html.py, every piece of text from the notes or the student is
escaped with ``html.escape``, and the passage is the notes' Markdown rendered with raw HTML
off (assistant/web/markdown_html.py), drawn as the chat's source cards are (``source-card``,
``source-title``, ``passage``: the same CSS in assistant/web/static/app.css), and with the
same links: its [[links]] to the folder's notes open them in the Notas tab (app.js), its
images of the folder are drawn (``NoteLinks``). A card's front and back are text whose
formulas become the math elements the page's KaTeX typesets (``text_html``); an Obsidian
link written in them shows its visible text, as in the index (``link_text``).
"""

from __future__ import annotations

import html
import math
import re
import string
from datetime import datetime, timedelta

from assistant.study.browse import status_label
from assistant.study.quiz import MAX_ANSWER_CHARS, Grade, MultipleChoice, choice_rating
from assistant.study.records import DeckCard
from assistant.study.schedule import RATING_LABELS, interval_text, utc_now
from assistant.web.markdown_html import markdown_html, text_html
from assistant.web.markdown_html import passage_html as render_passage
from assistant.web.note_images import NoteLinks
from assistant.web.study_desk import CardView, LastReview, Passage
from corpus.markdown import WIKILINK, link_text, math_pieces

KIND_LABELS = {
    "qa": "Pregunta",
    "definition": "Definición",
    "cloze": "Completa el hueco",
    "list": "Lista",
}
STATE_LABELS = {
    "new": "nueva",
    "learning": "aprendiendo",
    "review": "repaso",
    "relearning": "reaprendiendo",
}
NOTHING_DUE = "No hay tarjetas pendientes ahora."
NO_CARDS = (
    "Tus notas aún no tienen tarjetas. Salen de las secciones cuyo título es una pregunta "
    "(«## ¿Qué es X?»), de las definiciones («X es un…»), de los términos en **negrita** y "
    "de las listas de ventajas, desventajas o tipos. Añade notas en la pestaña Notas."
)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def face_html(text: str) -> str:
    """A card's front or back: its formulas as math elements, its Obsidian links as their
    visible text ("[[Nota#Sección|alias]]" -> "alias"; an embed shows nothing), outside
    the formulas only. Display alone: the deck keeps the text, and the card its id."""
    return "".join(
        text_html(piece) if formula else html.escape(WIKILINK.sub(link_text, piece), quote=True)
        for piece, formula in math_pieces(text)
    )


def rating_label(rating: str) -> str:
    """A rating's name on screen: "good" -> "Bien"."""
    return RATING_LABELS[rating].capitalize()


def rating_button(rating: str, interval: timedelta | None = None) -> str:
    """A rating button's label, with the interval it gives the card when known:
    "Bien · 3 d" (Anki's buttons say it the same way), its spaces no-break ones so that a
    narrow button never splits "1 min"."""
    label = rating_label(rating)
    if interval is not None:
        label = f"{label} · {interval_text(interval)}"
    return label.replace(" ", "\u00a0")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def due_text(due: datetime, now: datetime | None = None) -> str:
    """How long until ``due``: "ahora", "en 10 min", "en 3 h", "en 4 días"."""
    seconds = (due - (now or utc_now())).total_seconds()
    if seconds <= 0:
        return "ahora"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"en {minutes} min"
    if minutes < 24 * 60:
        return f"en {round(minutes / 60)} h"
    return f"en {_plural(round(minutes / (24 * 60)), 'día', 'días')}"


def front_html(view: CardView, now: datetime | None = None) -> str:
    """The card's front with its kind, note and state; or why there is no card."""
    if view.row is None:
        if not view.cards:
            return f'<div class="study-card study-empty">{_esc(NO_CARDS)}</div>'
        upcoming = ""
        if view.next_due is not None:
            local = view.next_due.astimezone()
            upcoming = (
                f" La siguiente vence {due_text(view.next_due, now)} "
                f"({local.strftime('%Y-%m-%d %H:%M')})."
            )
        return (
            f'<div class="study-card study-empty"><strong>{_esc(NOTHING_DUE)}</strong>'
            f"{_esc(upcoming)} ¡Buen trabajo!</div>"
        )
    card = view.row.card
    meta = " · ".join(
        [KIND_LABELS[card.kind], card.source, STATE_LABELS.get(view.row.status, view.row.status)]
    )
    return (
        '<div class="study-card">'
        f'<div class="study-meta">{_esc(meta)}</div>'
        f'<div class="study-front">{face_html(card.front)}</div>'
        "</div>"
    )


def passage_html(passage: Passage, links: NoteLinks | None = None) -> str:
    """The passage as a source card: file and heading, then the text (its Markdown
    rendered, as in the chat's sources panel) with the card's span marked; with ``links``,
    its [[links]] open their notes and its images are drawn (else links are their text
    and images their name, in grey)."""
    notes, images = (links.notes, links.images(passage.source)) if links else (None, None)
    body = render_passage(
        passage.text, passage.source, passage.mark, "De aquí sale la tarjeta", notes, images
    )
    heading = f"{passage.source} — {passage.heading}" if passage.heading else passage.source
    return "\n".join(
        [
            '<article class="source-card study-source">',
            f'<div class="source-title">{_esc(heading)}</div>',
            body,
            "</article>",
        ]
    )


def grade_html(answer: str, grade: Grade) -> str:
    """The written answer and the rating the checker proposes for it."""
    lines = [
        f'<div class="study-answer">Tu respuesta: «{_esc(answer.strip()) or "(vacía)"}»</div>',
        f'<div class="study-proposal">Propuesta: <strong>{_esc(rating_label(grade.rating))}'
        f"</strong> <small>(la veo correcta en un {grade.right:.0%} y, además, completa en "
        f"un {grade.score:.0%})</small>. Acéptala con su botón o elige otra valoración.</div>",
    ]
    if answer.strip() and not grade.supported:
        lines.append(
            '<div class="unsupported">⚠ La tarjeta no respalda parte de lo que has escrito.</div>'
        )
    if grade.answer_chars:
        lines.append(
            f"<div><small>nota: tu respuesta tenía {grade.answer_chars} caracteres; se "
            f"califican los primeros {MAX_ANSWER_CHARS}</small></div>"
        )
    return '<div class="study-grade">' + "".join(lines) + "</div>"


OPTION_KEYS = string.ascii_uppercase  # how the options are named on screen and in the radio
_NESTED = re.compile(r"^((?:  )+)(?=\S)", re.MULTILINE)


def option_keys(count: int) -> list[str]:
    """The radio's choices for ``count`` options: "A", "B", …"""
    return list(OPTION_KEYS[:count])


def option_markdown(text: str) -> str:
    """A back as Markdown: its nested lines (two spaces a level, ``render_lines``) moved
    to four, so that a sub-item nests under "1. " too (CommonMark wants the marker's
    width), and each line break kept ("Ejemplo:" stays a line of its own)."""
    nested = _NESTED.sub(lambda m: "    " * (len(m.group(1)) // 2), text)
    return "  \n".join(nested.splitlines())


def options_html(choice: MultipleChoice, picked: int | None = None) -> str:
    """The options of a multiple choice, each named by its letter and rendered as
    Markdown (a list stays a list, a formula is typeset); with ``picked`` (once checked),
    the right one marked ✓ and a wrong pick ✗."""
    rows = []
    for i, option in enumerate(choice.options):
        key = OPTION_KEYS[i]
        if picked is not None and i == choice.answer:
            key += " ✓"
        elif picked is not None and i == picked:
            key += " ✗"
        rows.append(
            '<div class="study-option" style="display:flex;gap:0.6em;margin:0.5em 0">'
            f'<strong class="study-option-key" style="min-width:1.6em;white-space:nowrap">{_esc(key)}</strong>'
            f'<div class="passage md">{markdown_html(option_markdown(option))}</div></div>'
        )
    return '<div class="study-options">' + "".join(rows) + "</div>"


def choice_html(choice: MultipleChoice, picked: int) -> str:
    """Right or wrong, which option was chosen, and the rating proposed for it."""
    rating = choice_rating(choice, picked)
    verdict = (
        '<div class="supported">✓ Correcto.</div>'
        if picked == choice.answer
        else f'<div class="unsupported">✗ Elegiste la {OPTION_KEYS[picked]}; la correcta es '
        f"la {OPTION_KEYS[choice.answer]}, la de arriba.</div>"
    )
    return (
        f'<div class="study-grade">{verdict}<div class="study-proposal">Propuesta: '
        f"<strong>{_esc(rating_label(rating))}</strong>. Acéptala con su botón o elige otra "
        "valoración.</div></div>"
    )


def back_html(view: CardView) -> str:
    """The back, the proposed grade (a written answer or a pick), and the passage; ""
    before the answer is shown."""
    if view.row is None or not view.revealed:
        return ""
    parts = [f'<div class="study-back">{face_html(view.row.card.back)}</div>']
    if view.grade is not None:
        parts.append(grade_html(view.answer, view.grade))
    elif view.choice is not None and view.picked is not None:
        parts.append(choice_html(view.choice, view.picked))
    if view.passage is not None:
        parts.append(passage_html(view.passage, view.links))
    return "\n".join(parts)


def progress_markdown(
    stats: dict, reviewed: int, last: LastReview | None = None, now: datetime | None = None
) -> str:
    """The progress line ("**12 pendientes hoy** · 3 repasadas en esta sesión") and the
    last rating given."""
    line = (
        f"**{_plural(stats['due_today'], 'pendiente', 'pendientes')} hoy** · "
        f"{_plural(reviewed, 'repasada', 'repasadas')} en esta sesión"
    )
    if last is not None:
        line += (
            f" · última: {_md(last.front)} → {rating_label(last.rating)}, "
            f"vuelve {due_text(last.due, now)}"
        )
    return line


def stats_markdown(stats: dict) -> str:
    new = stats.get("new_today")
    return (
        f"**{_plural(stats['cards'], 'tarjeta', 'tarjetas')}** · pendientes: "
        f"{stats['due_today']} hoy"
        + (f" ({_plural(new, 'nueva', 'nuevas')})" if new is not None else "")
        + f", {stats['due_this_week']} esta semana · "
        f"{_plural(stats['reviews'], 'repaso', 'repasos')} en total"
    )


def retention_rows(stats: dict) -> list[list]:
    """[note, reviews, retention] per note; "—" for a note never reviewed."""
    rows = []
    for source, note in stats["retention_by_note"].items():
        share = "—" if note["retention"] is None else f"{note['retention']:.0%}"
        rows.append([source, note["reviews"], share])
    return rows


def _md(text: str, limit: int = 60) -> str:
    """Card text quoted inside Markdown: cut to ``limit`` characters, escaped, and with no
    emphasis or link syntax left live."""
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return "«" + _esc(text).translate(str.maketrans({c: "\\" + c for c in "*_`[]#"})) + "»"


def browsed_card_markdown(row: DeckCard, now: datetime | None = None) -> str:
    """The card browser's line over the editor: the card's note and section, its kind and
    status (edited, written by hand) and, for a studied card, when it is due (a new one
    comes when the day's new cards reach it, in note order)."""
    card = row.card
    where = f"{card.source} — {card.heading}" if card.heading else card.source
    parts = [f"**{_md(where, 120)[1:-1]}**", KIND_LABELS[card.kind], status_label(row)]
    if row.retired is None and row.state.state != "new":
        parts.append(f"sale {due_text(row.state.due, now)}")
    return " · ".join(parts)
