"""One browser's chat, without Gradio: what it shows, what follow-ups read, the copy the
browser keeps, and the Markdown export.

A chat is a list of exchanges (a question and its reply: an answer, an abstention, or the
error it met). app.py keeps a ``ChatSession`` per browser session and, after every
question, stores ``to_json()`` in a ``gr.BrowserState`` (the browser's localStorage), so a
reload finds the conversation again with ``from_json``. What is stored is data, not the
sources panel's HTML: its cards are redrawn from each passage's text and the offsets of
its highlighted sentence. The chat's bubbles are kept as HTML (the Chatbot sanitizes what
it shows).

Known limit: localStorage holds about 5 MB per site; the newest ``SAVED_EXCHANGES`` are
kept (an exchange is ~10 KB: a reply and up to ten 1,200-character passages).
"""

from __future__ import annotations

import html
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from assistant.answer import Answer
from assistant.citations import Citation
from assistant.conversation import Turn
from assistant.grounding import EvidenceSpan
from assistant.web.answer_html import (
    SourceCard,
    answer_html,
    error_html,
    question_html,
    source_cards,
)
from assistant.web.evidence import highlight_html
from assistant.web.note_images import NoteLinks
from corpus.errors import AssistantError
from corpus.files import atomic_write_text

SAVED_VERSION = 1  # what to_json writes; another version is not read back
SAVED_EXCHANGES = 50
Kind = Literal["answer", "abstention", "error"]


class SavedChatError(AssistantError):
    """The browser's copy of a conversation cannot be read (another version, damaged)."""


@dataclass(frozen=True)
class Exchange:
    number: int  # numbers the chat's replies: their citations' keys (answer_html)
    question: str  # as the student wrote it
    kind: Kind
    text: str  # the answer's text, or the error's message
    reply_html: str  # the chat's bubble
    turn: Turn | None = None  # what a follow-up reads; None for an error
    passages: tuple[Citation, ...] = ()  # cited, or the closest ones of an abstention
    cards: tuple[SourceCard, ...] = ()  # what the reply's citations open
    unsupported: tuple[str, ...] = ()  # the answer's sentences the notes do not back


@dataclass
class ChatSession:
    """One browser session's chat; gr.State gives every session its own copy."""

    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def turns(self) -> list[Turn]:
        return [e.turn for e in self.exchanges if e.turn is not None]

    @property
    def messages(self) -> list[dict]:
        """What the Chatbot shows."""
        messages = []
        for e in self.exchanges:
            messages.append({"role": "user", "content": question_html(e.question)})
            messages.append({"role": "assistant", "content": e.reply_html})
        return messages

    @property
    def cards(self) -> list[SourceCard]:
        return [card for e in self.exchanges for card in e.cards]

    @property
    def next_number(self) -> int:
        return self.exchanges[-1].number + 1 if self.exchanges else 1

    def add_answer(
        self, answer: Answer, number: int, evidence: dict, links: NoteLinks | None = None
    ) -> Exchange:
        """Record a finished answer (``evidence`` from assistant.web.evidence.answer_evidence;
        ``links``: what its passages' [[links]] and images reach)."""
        exchange = Exchange(
            number,
            answer.question,
            "abstention" if answer.abstained else "answer",
            answer.answer,
            answer_html(answer, number),
            Turn(answer.question, answer.query, answer.answer),
            tuple(answer.closest if answer.abstained else answer.citations),
            tuple(source_cards(answer, number, evidence, links)),
            tuple(check.text for check in answer.sentences if not check.supported),
        )
        self.exchanges.append(exchange)
        return exchange

    def add_error(self, question: str, number: int, message: str) -> Exchange:
        exchange = Exchange(number, question, "error", message, error_html(message))
        self.exchanges.append(exchange)
        return exchange

    # -- the browser's copy ------------------------------------------------------------

    def to_json(self, keep: int = SAVED_EXCHANGES) -> dict:
        """The newest ``keep`` exchanges as JSON-able data (what the browser stores)."""
        return {
            "version": SAVED_VERSION,
            "exchanges": [_exchange_json(e) for e in self.exchanges[-keep:] if keep > 0],
        }

    @classmethod
    def from_json(cls, payload, links: NoteLinks | None = None) -> ChatSession:
        """A session back from ``to_json``'s data; an empty one for nothing stored
        (None or {}). Raises SavedChatError for anything else that cannot be read."""
        if not payload:
            return cls()
        try:
            if payload["version"] != SAVED_VERSION:
                raise ValueError(f"versión {payload['version']}, esta app lee la {SAVED_VERSION}")
            return cls([_exchange_from_json(e, links) for e in payload["exchanges"]])
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise SavedChatError(
                f"la conversación guardada en este navegador no se puede leer ({err}); "
                "empieza una nueva"
            ) from None


def _exchange_json(e: Exchange) -> dict:
    return {
        "number": e.number,
        "question": e.question,
        "kind": e.kind,
        "text": e.text,
        "reply_html": e.reply_html,
        "turn": asdict(e.turn) if e.turn is not None else None,
        "passages": [c.to_json() for c in e.passages],
        "cards": [
            {
                "key": card.key,
                "citation": card.citation.to_json(),
                "sentence": card.sentence,
                "supported": card.supported,
                "evidence": asdict(card.evidence) if card.evidence is not None else None,
            }
            for card in e.cards
        ],
        "unsupported": list(e.unsupported),
    }


def _card_from_json(data: dict, links: NoteLinks | None) -> SourceCard:
    citation = Citation(**data["citation"])
    evidence = EvidenceSpan(**data["evidence"]) if data["evidence"] is not None else None
    if evidence is not None and not 0 <= evidence.start < evidence.end <= len(citation.text):
        raise ValueError(f"pasaje {data['key']}: el resaltado cae fuera del texto")
    body = highlight_html(citation.text, citation.source, evidence, links)
    return SourceCard(
        str(data["key"]), citation, body, str(data["sentence"]), data["supported"], evidence
    )


def _exchange_from_json(data: dict, links: NoteLinks | None) -> Exchange:
    if data["kind"] not in ("answer", "abstention", "error"):
        raise ValueError(f"tipo de respuesta desconocido: {data['kind']!r}")
    return Exchange(
        int(data["number"]),
        str(data["question"]),
        data["kind"],
        str(data["text"]),
        str(data["reply_html"]),
        Turn(**data["turn"]) if data["turn"] is not None else None,
        tuple(Citation(**c) for c in data["passages"]),
        tuple(_card_from_json(card, links) for card in data["cards"]),
        tuple(str(text) for text in data["unsupported"]),
    )


# -- export ------------------------------------------------------------------------------


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in _esc(text).strip().splitlines())


def _esc(text: str) -> str:
    """Text of the model, the student or the notes as Markdown text, never live HTML: a
    Markdown viewer renders inline HTML, so a model's ``<img onerror=…>`` would run."""
    return html.escape(text, quote=False)


def conversation_markdown(session: ChatSession) -> str:
    """The conversation as a Markdown document: each question, its answer (with its [n]
    markers), and the passages it cites quoted in full; all of it escaped as text."""
    lines = ["# Conversación con tus notas", ""]
    if not session.exchanges:
        lines += ["(sin preguntas todavía)", ""]
    for i, e in enumerate(session.exchanges, start=1):
        lines += [f"## {i}. {_esc(e.question)}", ""]
        if e.kind == "error":
            lines += [f"⚠ Error: {_esc(e.text)}", ""]
            continue
        lines += [_esc(e.text), ""]
        if e.unsupported:
            lines += ["Frases que tus notas no respaldan:", ""]
            lines += [f"- ⚠ {_esc(sentence)}" for sentence in e.unsupported] + [""]
        if e.turn is not None and e.turn.query != e.question:
            lines += [f"*Búsqueda: «{_esc(e.turn.query)}»*", ""]
        if e.passages:
            heading = "Pasajes más cercanos" if e.kind == "abstention" else "Pasajes citados"
            lines += [f"### {heading}", ""]
            for c in e.passages:
                title = _esc(c.label())
                lines += [f"**{title}**", "", _quoted(c.text), ""]
    return "\n".join(lines)


def browser_secret(path: Path) -> str:
    """The key the browser's copy is encrypted with, made once and kept in ``path`` (the
    app's cache): with a new key at every start, Gradio's default, a restart of the app
    would lose every browser's conversation."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if len(secret) < 32:
        secret = secrets.token_urlsafe(32)
        atomic_write_text(path, secret)
        os.chmod(path, 0o600)
    return secret
