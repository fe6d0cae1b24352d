"""The chat tab's logic without Gradio: the assistants by settings, the warm-up, one
streamed answer into a browser's conversation, and the conversation's export.

app.py wires it to the page: it turns the controls into ``ChatSettings``
(``settings_from_controls``), each yielded step into the chat and sources components, and an
AssistantError into the page's one-line error. Warnings (a backend's notice, a saved chat
that cannot be read) go to ``warn``.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.answer import Answer, Assistant, require_question
from assistant.generators.adapters import DEFAULT_ADAPTER, SHIPPED_ADAPTERS
from assistant.generators.base import GenerationConfig, NoticeOnce
from assistant.settings import ChatSettings, load_assistant
from assistant.web.answer_html import question_html, status_html, streaming_html
from assistant.web.chat_state import ChatSession, SavedChatError, conversation_markdown
from assistant.web.evidence import answer_evidence
from assistant.web.model_status import ModelStatus
from assistant.web.note_images import NoteLinks
from corpus.errors import AssistantError
from index.store import NotesIndex

MAX_ASSISTANTS = 8  # settings combinations kept built; their generators stay cached anyway


def settings_from_controls(
    model: str,
    adapter: bool,
    strategy: str,
    passages: float,
    max_new_tokens: float,
    temperature: float,
) -> ChatSettings:
    """The chat's six controls as settings (the adapter a checkbox: the model's shipped
    one, when it has one); AssistantError naming the bad value."""
    try:
        return ChatSettings(
            model,
            DEFAULT_ADAPTER if adapter and model in SHIPPED_ADAPTERS else None,
            strategy,
            int(passages),
            int(max_new_tokens),
            float(temperature),
        )
    except (ValueError, TypeError) as err:
        raise AssistantError(f"Ajustes no válidos: {err}") from None


def control_values(settings: ChatSettings) -> tuple:
    """What the chat's six controls show for ``settings``, in the order
    ``settings_from_controls`` takes them."""
    return (
        settings.model,
        settings.adapter is not None,
        settings.strategy,
        settings.passages,
        settings.max_new_tokens,
        settings.temperature,
    )


@dataclass(frozen=True)
class ChatStep:
    """One redraw while an answer streams: the chat's messages, and the sources panel's
    cards to show once the answer is done (``None`` while it streams)."""

    messages: list[dict]
    done: bool = False
    show: str | None = None  # the source card to open (the answer's first)


class ChatDesk:
    def __init__(
        self,
        index: NotesIndex,
        chat_dir: Path,
        make_assistant: Callable[[NotesIndex, ChatSettings], Assistant] = load_assistant,
        warn: Callable[[str], None] = lambda message: None,
        notes_dir: Path | None = None,
    ) -> None:
        self.index = index
        self.notes_dir = notes_dir  # where the passages' [[links]] and images lead
        self._links: NoteLinks | None = None
        self.chat_dir = chat_dir  # exported conversations
        self.make_assistant = make_assistant
        self.warn = warn
        self.models = ModelStatus()  # what the header's line says
        self._lock = threading.Lock()  # guards the index and the assistants between events
        # (settings, the index it answers from: None for the notebook's own) -> assistant
        self._assistants: dict[tuple[ChatSettings, int | None], Assistant] = {}
        # The index over every notebook (StudyApp sets it): the "todas" scope.
        self.everything: Callable[[], NotesIndex] | None = None
        self._models_loaded: set[tuple[str, str | None]] = set()
        self._notices = NoticeOnce()  # a backend's remark (no veto), shown once

    def swap_index(self, index: NotesIndex) -> None:
        """A re-indexed folder: later questions search ``index``; the assistants built on
        the old one are dropped."""
        with self._lock:
            self.index = index
            self._assistants.clear()
            self._links = None

    def open_folder(self, index: NotesIndex, notes_dir: Path) -> None:
        """Another notebook: its index, and its folder for the passages' links; the
        models stay loaded."""
        with self._lock:
            self.notes_dir = notes_dir
        self.swap_index(index)

    @property
    def links(self) -> NoteLinks | None:
        """What the passages' [[links]] open and their images (None without a folder)."""
        if self.notes_dir is None:
            return None
        if self._links is None:
            self._links = NoteLinks(self.notes_dir, {c.source for c in self.index.chunks})
        return self._links

    def assistant_for(self, settings: ChatSettings, everywhere: bool = False) -> Assistant:
        """The assistant for ``settings`` over this notebook, or over every notebook."""
        index = None
        if everywhere:
            if self.everything is None:
                raise AssistantError("No hay otros cuadernos en los que buscar")
            index = self.everything()  # outside the lock: it may index a notebook
        with self._lock:
            return self._assistant(settings, index)

    def _assistant(self, settings: ChatSettings, index: NotesIndex | None = None) -> Assistant:
        """Under self._lock. The key holds the index's id while the assistant (which holds
        the index) is cached, so an id is never reused for another index meanwhile."""
        key = (settings, None if index is None else id(index))
        if key not in self._assistants:
            if len(self._assistants) >= MAX_ASSISTANTS:
                self._assistants.pop(next(iter(self._assistants)))
            self._assistants[key] = self.make_assistant(index or self.index, settings)
        self._models_loaded.add((settings.model, settings.adapter))
        return self._assistants[key]

    def warm_up(self) -> float | None:
        """Load the default chat's models and run each once, so that the first question
        does not wait for them; the app runs this in a background thread at start. Holds
        the lock throughout: a question that comes first waits here rather than racing the
        loads. Returns the seconds it took, None if it failed (the first question then
        loads again and reports the error itself)."""
        began = time.perf_counter()
        self.models.loading()
        with self._lock:
            try:
                assistant = self._assistant(ChatSettings())
                assistant.checker.scores(["Una frase."], ["Un pasaje de las notas."])
                if assistant.generator is not None:
                    "".join(assistant.generator.stream("Hola", GenerationConfig(max_new_tokens=1)))
            except Exception as err:  # noqa: BLE001 (best effort; the chat reports errors)
                print(f"aviso: no se pudieron precargar los modelos: {err}", file=sys.stderr)
                self.models.failed(str(err))
                return None
        seconds = time.perf_counter() - began
        self.models.ready(seconds)
        return seconds

    def ask(
        self,
        question: str,
        session: ChatSession,
        settings: ChatSettings,
        everywhere: bool = False,
    ) -> Iterator[ChatStep]:
        """Stream one answer into ``session``: a status line, the draft as it grows, then
        the checked answer; ``everywhere``: from every notebook's notes, each citation
        naming its notebook. An AssistantError is recorded in the conversation (the last
        step shows it) and raised."""
        question = require_question(question)
        number = session.next_number
        messages = [*session.messages, {"role": "user", "content": question_html(question)}]
        status = "Buscando en tus notas…"
        if (settings.model, settings.adapter) not in self._models_loaded:
            lora = " con su adaptador LoRA" if settings.adapter else ""
            status = (
                f"Cargando el modelo {settings.model}{lora} (solo la primera vez, unos segundos)…"
            )
            print(status, file=sys.stderr)
        yield ChatStep([*messages, _bot(status_html(status))])

        try:
            assistant = self.assistant_for(settings, everywhere)
            answer, draft = None, ""
            for event in assistant.stream(question, session.turns):
                if isinstance(event, Answer):
                    answer = event
                else:
                    draft += event
                    yield ChatStep([*messages, _bot(streaming_html(draft))])
            assert answer is not None  # stream() ends with the Answer
            if notice := self._notices.new(assistant):
                self.warn(notice)
        except AssistantError as err:
            session.add_error(question, number, str(err))
            yield ChatStep(session.messages)
            raise

        if (settings.model, settings.adapter) == (ChatSettings.model, ChatSettings.adapter):
            self.models.ready()  # the first question loaded them (no warm-up, or it failed)
        # Over every notebook a passage's links and images would resolve in this folder.
        links = None if everywhere else self.links
        exchange = session.add_answer(answer, number, answer_evidence(answer), links)
        show = exchange.cards[0].key if exchange.cards and not answer.abstained else None
        yield ChatStep(session.messages, done=True, show=show)

    def restore(self, saved) -> tuple[ChatSession, str | None]:
        """The conversation from the browser's copy, and the source card to open. A copy
        that cannot be read is one warning, and the chat starts empty."""
        try:
            session = ChatSession.from_json(saved, self.links)
        except SavedChatError as err:
            self.warn(str(err))
            session = ChatSession()
        last = session.exchanges[-1] if session.exchanges else None
        if last is None or last.kind == "abstention" or not last.cards:
            return session, None  # an abstention opens no passage: none answered
        return session, last.cards[0].key

    def export(self, session: ChatSession) -> Path:
        """The conversation as a Markdown file in the chat folder."""
        if not session.exchanges:
            raise AssistantError("Aún no hay nada que exportar: haz una pregunta primero")
        self.chat_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = self.chat_dir / f"conversacion-{stamp}-{uuid.uuid4().hex[:6]}.md"
        out.write_text(conversation_markdown(session), encoding="utf-8")
        return out


def _bot(content: str) -> dict:
    return {"role": "assistant", "content": content}
