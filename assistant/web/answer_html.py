"""An Answer as HTML for the app: clickable [n] citations, marked unsupported sentences,
the evidence line ("En tus notas: «…» [n]"), abstentions with their closest passages, and the source cards the citations open.

Every piece of text that comes from the model or the student is escaped with
``html.escape``, and the notes' passages are rendered by assistant/web/markdown_html.py with
raw HTML off: the only live markup is the one built here. Chat messages are Markdown with
inline HTML (no block tags, so the model's *emphasis* still renders); source cards are
plain HTML for a ``gr.HTML`` panel, their passages rendered Markdown. A citation carries
the class ``src-KEY``; a small script in the page shows the card whose ``data-key`` is
KEY (app.py). Formulas in the answer, the question and the evidence become the math
elements the page's KaTeX typesets (``text_html``, as in the notes' passages).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from assistant.answer import EVIDENCE_LABEL, QUOTED_INSTEAD, WITHDRAWN, Answer
from assistant.citations import Citation
from assistant.grounding import EvidenceSpan
from assistant.web.evidence import highlight_html
from assistant.web.markdown_html import text_html
from assistant.web.note_images import NoteLinks

_LIST_ITEM_STARTS = ("- ", "* ", "• ")


@dataclass(frozen=True)
class SourceCard:
    key: str  # what a citation's src-KEY class names
    citation: Citation
    body_html: str  # the passage block: its Markdown rendered, the evidence in <mark>
    sentence: str = ""  # the answer sentence the card backs ("" for a closest passage)
    supported: bool | None = None  # whether the checker supports that sentence
    evidence: EvidenceSpan | None = None  # what body_html marks (kept to redraw a saved chat)


def citation_key(turn: int, sentence: int, n: int) -> str:
    return f"{turn}-{sentence}-{n}"


def closest_key(turn: int, n: int) -> str:
    return f"{turn}-c-{n}"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _link(key: str, label: str, css: str) -> str:
    # The key rides in a class: the Chatbot's sanitizer keeps classes but drops data-*.
    return (
        f'<span class="{css} src-{_esc(key)}" role="button" tabindex="0" '
        f'title="Ver el pasaje">{_esc(label)}</span>'
    )


def question_html(question: str) -> str:
    return text_html(question)


def streaming_html(text: str) -> str:
    return text_html(text) + " ▌"


def status_html(message: str) -> str:
    return f"<em>{_esc(message)}</em>"


def error_html(message: str) -> str:
    return f'<span class="unsupported">⚠ {_esc(message)}</span>'


def timings_text(answer: Answer) -> str:
    t = answer.timings
    first = f"{t.first_token_ms / 1000:.1f} s" if t.first_token_ms is not None else "—"
    total = f"{t.total_ms / 1000:.1f} s" if t.total_ms is not None else "—"
    model = f"{answer.model}{' + LoRA' if answer.adapter else ''}"
    return f"{model}, {answer.strategy} · primer token {first} · total {total}"


def note_lines(answer: Answer) -> list[str]:
    """The answer's remarks as the notes shown under it (chat and CLI alike): a withdrawn
    draft answered by a quotation of the evidence is one event, so one line."""
    remarks = list(answer.remarks)
    if WITHDRAWN in remarks and QUOTED_INSTEAD in remarks:
        remarks[remarks.index(WITHDRAWN)] = f"{WITHDRAWN}; {QUOTED_INSTEAD}"
        remarks.remove(QUOTED_INSTEAD)
    return remarks


def answer_html(answer: Answer, turn: int) -> str:
    """The chat message for a finished answer (``turn`` numbers the chat's answers)."""
    paragraphs: list[str] = []
    if answer.abstained:
        paragraphs.append(f'<strong class="abstained">{_esc(answer.answer)}</strong>')
        if answer.closest:
            links = " · ".join(
                _link(closest_key(turn, c.n), c.label(), "cite-source") for c in answer.closest
            )
            paragraphs.append(f"Pasajes más cercanos: {links}")
    else:
        paragraphs.append(_sentences_html(answer, turn))
        if any(not check.supported for check in answer.sentences):
            paragraphs.append(
                '<small><span class="unsupported">⚠</span> = frase que tus notas '
                "no respaldan</small>"
            )
        first_key: dict[int, str] = {}
        for i, check in enumerate(answer.sentences):
            for n in check.cited:
                first_key.setdefault(n, citation_key(turn, i, n))
        links = " · ".join(
            _link(first_key[c.n], c.label(), "cite-source")
            for c in answer.citations
            if c.n in first_key
        )
        if answer.evidence:
            paragraphs.append(_evidence_html(answer, first_key))
        paragraphs.append(
            f'<span class="sources-line">Fuentes: {links}</span>'
            if links
            else "<small>(la respuesta no cita ningún pasaje)</small>"
        )
    if answer.query and answer.query != answer.question:
        paragraphs.append(f'<small class="query">Búsqueda: «{_esc(answer.query)}»</small>')
    for note in note_lines(answer):
        paragraphs.append(f"<small>nota: {_esc(note)}</small>")
    paragraphs.append(f'<small class="timings">{_esc(timings_text(answer))}</small>')
    return "\n\n".join(paragraphs)


def evidence_quotes(answer: Answer) -> list[tuple[str, int]]:
    """The units the answer rests on, as (text, passage number), in the order shown."""
    return [(unit.text, unit.n) for unit in answer.evidence]


def evidence_text(answer: Answer) -> str:
    """ "En tus notas: «…» [n] «…» [n]": the exact sentences the answer rests on (CLI)."""
    quotes = " ".join(f"«{text}» [{n}]" for text, n in evidence_quotes(answer))
    return f"{EVIDENCE_LABEL}: {quotes}"


def _evidence_html(answer: Answer, keys: dict[int, str]) -> str:
    """The evidence line of the chat: each unit quoted, its [n] opening its passage."""
    quotes = []
    for text, n in evidence_quotes(answer):
        mark = _link(keys[n], f"[{n}]", "cite") if n in keys else f"[{n}]"
        quotes.append(f"«{text_html(text)}» {mark}")
    return f'<span class="evidence">{EVIDENCE_LABEL}: {" ".join(quotes)}</span>'


def _claims_html(sentence: str, claims: list[str]) -> str:
    """The sentence with only its unsupported claims marked (each a substring of it)."""
    html, start = [], 0
    for claim in claims:
        at = sentence.find(claim, start)
        if at < 0:
            continue
        html.append(text_html(sentence[start:at]))
        html.append(
            f'<span class="unsupported" title="Tus notas no respaldan esta parte">'
            f"⚠ {text_html(claim)}</span>"
        )
        start = at + len(claim)
    return "".join(html) + text_html(sentence[start:])


def _sentences_html(answer: Answer, turn: int) -> str:
    parts: list[str] = []
    for i, check in enumerate(answer.sentences):
        if not check.supported and check.unsupported_claims:
            text = _claims_html(check.text, check.unsupported_claims)
        elif not check.supported:
            text = (
                f'<span class="unsupported" title="Tus notas no respaldan esta frase">'
                f"⚠ {text_html(check.text)}</span>"
            )
        else:
            text = text_html(check.text)
        markers = [_link(citation_key(turn, i, n), f"[{n}]", "cite") for n in check.cited]
        markers += [
            f'<span class="cite invalid" title="No hay ningún pasaje [{n}]">[{n}?]</span>'
            for n in check.invalid_citations
        ]
        sentence = " ".join([text, *markers])
        separator = "\n" if check.text.startswith(_LIST_ITEM_STARTS) else " "
        parts.append(sentence if not parts else separator + sentence)
    return "".join(parts)


def source_cards(
    answer: Answer,
    turn: int,
    evidence: dict[tuple[int, int], EvidenceSpan],
    links: NoteLinks | None = None,
) -> list[SourceCard]:
    """One card per (sentence, cited passage), or per closest passage of an abstention."""
    if answer.abstained:
        return [
            SourceCard(closest_key(turn, c.n), c, highlight_html(c.text, c.source, None, links))
            for c in answer.closest
        ]
    by_number = {c.n: c for c in answer.citations}
    cards = []
    for i, check in enumerate(answer.sentences):
        for n in check.cited:
            if n in by_number:
                citation, span = by_number[n], evidence.get((i, n))
                body = highlight_html(citation.text, citation.source, span, links)
                key = citation_key(turn, i, n)
                cards.append(SourceCard(key, citation, body, check.text, check.supported, span))
    return cards


def _card_html(card: SourceCard, shown: bool) -> str:
    citation = card.citation
    hidden = "" if shown else " hidden"
    lines = [
        f'<article class="source-card" data-key="{_esc(card.key)}"{hidden}>',
        f'<div class="source-title">{_esc(citation.label())}</div>',
    ]
    if card.sentence:
        verdict = "respaldada" if card.supported else "⚠ sin respaldo suficiente"
        lines.append(
            f'<div class="source-sentence">Frase: {_quoted(card.sentence)} '
            f"<small>({verdict})</small></div>"
        )
    else:
        lines.append('<div class="source-sentence">Pasaje cercano a tu pregunta</div>')
    lines += [card.body_html, "</article>"]
    return "\n".join(lines)


def _quoted(sentence: str) -> str:
    """The sentence in «», once: an answer that quotes the notes is already in them."""
    text = sentence.strip()
    if text.startswith("«") and text.rstrip(".").endswith("»"):
        return text_html(text)
    return f"«{text_html(text)}»"


def sources_panel_html(cards: list[SourceCard], show: str | None = None) -> str:
    """Every card of the chat, all hidden but ``show``."""
    hint = (
        "Pulsa una cita [n] de una respuesta para ver aquí el pasaje."
        if cards
        else "Aquí aparecerán los pasajes que citan las respuestas."
    )
    body = "\n".join(_card_html(card, card.key == show) for card in cards)
    return f'<div class="sources-panel"><p class="sources-hint">{hint}</p>\n{body}</div>'
