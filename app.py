"""The study assistant in the browser: a thin Gradio shell over the functions the CLI uses.

    .venv/bin/python app.py [--host 127.0.0.1] [--port 7860] [--notes corpus/notes]
                            [--index .cache/index] [--deck FILE.sqlite]
                            [--auth user:password | --auth-file FILE]

STUDY_ASSISTANT_HOST / _PORT / _NOTES / _INDEX / _DECK / _AUTH / _AUTH_FILE stand in for
the flags (a password on the command line is visible with ps: assistant/web/login.py). The
notes are (re)indexed on start (only changed notes are embedded) and their study cards
rebuilt into the deck (by default the one `cards build` uses for --notes); the default
chat's models load in the background right after (a question that comes first waits for
them; a line under the title says when they are). Tabs: Chat (streamed answers,
clickable citations, a sources panel, the conversation kept in the browser and exported
as Markdown; assistant/web/chat_state.py), Study (due cards, written answers graded by the
support checker, statistics, Anki/CSV export; assistant/web/study_desk.py), Notes (upload,
delete with confirmation, restore from the trash, re-index, each rebuilding the cards),
Experiments (eval/experiment/grid.py).
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr
from gradio.utils import NamedString
from gradio_client.utils import is_valid_file
from starlette.middleware import Middleware

from assistant.answer import Assistant
from assistant.generators.adapters import SHIPPED_ADAPTERS
from assistant.generators.openai_backend import configured_models
from assistant.settings import MODELS, ChatSettings, load_assistant
from assistant.study.schedule import RATING_KEYS
from assistant.study.storage import default_deck_path
from assistant.support import Checker
from assistant.web.answer_html import (
    error_html,
    sources_panel_html,
)
from assistant.web.card_html import (
    back_html,
    front_html,
    progress_markdown,
    rating_label,
    retention_rows,
    stats_markdown,
)
from assistant.web.chat_desk import ChatDesk, settings_from_controls
from assistant.web.chat_state import (
    ChatSession,
    browser_secret,
)
from assistant.web.experiments_desk import QUESTIONS as EXPERIMENT_QUESTIONS
from assistant.web.experiments_desk import ExperimentOutcome, ExperimentsDesk
from assistant.web.login import LoginThrottle, ThrottledLogin, resolve_auth
from assistant.web.model_status import ModelStatus
from assistant.web.network import check_port_free, is_loopback
from assistant.web.notes_desk import NotesDesk
from assistant.web.study_desk import CardView, StudyDesk, StudyError, StudySession
from assistant.web.uploads import discard_upload, upload_dir_for, use_upload_dir
from corpus.errors import AssistantError
from corpus.paths import default_cache_dir
from eval.experiment.report import render_report, results_table
from eval.experiment.worker import ExperimentWorker
from index.store import BuildReport, NotesIndex, check_index_dir

ROOT = Path(__file__).resolve().parent
DEFAULT_NOTES = ROOT / "corpus" / "notes"
DEFAULT_INDEX = ROOT / ".cache" / "index"
ADAPTERS = SHIPPED_ADAPTERS  # model -> its bundled LoRA adapter, on by default as in the CLI
STRATEGIES = ("zero-shot", "few-shot:2", "cot:1", "extractive")
EXPERIMENT_STRATEGIES = ("zero-shot", "few-shot:1", "few-shot:3", "cot:1")
# eval/experiment/grid.py names a model with its bundled adapter "<model>+lora".
EXPERIMENT_MODELS = (*MODELS, *(f"{name}+lora" for name in ADAPTERS))
# The report's plots section: its image links are relative to the report's folder.
MAX_UPLOAD = "50mb"  # ChunkConfig.max_pdf_bytes; text notes are capped at 5 MB by the loader
# Flip the card, write the answer first, or pick it among the backs of similar cards.
STUDY_MODES = ("Tarjetas", "Respuesta escrita", "Opciones")
CHAT_STORAGE_KEY = "asistente-de-estudio-chat"  # the browser's localStorage entry
# One line per user error (a refused upload, a bad setting); tracebacks only for real bugs.
log = logging.getLogger("study_assistant.app")


class StudyApp:
    """The desks every browser shares (chat, notes, study, experiments; each Gradio-free,
    in assistant/web/) and the callbacks the UI wires to them: a desk's AssistantError
    becomes the page's one-line error, its results the components' values. Tests build it
    with a fake assistant factory, a fake checker for the study tab's grading and an
    experiment worker that runs a scripted child."""

    def __init__(
        self,
        notes_dir: str | Path,
        index_dir: str | Path,
        make_assistant: Callable[[NotesIndex, ChatSettings], Assistant] = load_assistant,
        experiments: ExperimentWorker | None = None,
        experiments_dir: Path | None = None,
        verbose: bool = False,
        deck_path: str | Path | None = None,
        make_checker: Callable[[], Checker] | None = None,
        study_dir: Path | None = None,
        chat_dir: Path | None = None,
    ) -> None:
        self.notes_dir = Path(notes_dir)
        chat_dir = chat_dir or default_cache_dir() / "chat"
        # The key of the browsers' copies of their conversations.
        self.browser_secret = browser_secret(chat_dir / "browser-secret")
        # Before indexing: a deck inside the notes folder fails at once. The grading
        # checker is the study tab's own (e5 alone), so it never waits for the chat model.
        self.study = StudyDesk(
            Path(deck_path).expanduser() if deck_path else default_deck_path(self.notes_dir),
            self.notes_dir,
            study_dir or default_cache_dir() / "study",
            make_checker,
        )
        self.notes = NotesDesk(
            self.notes_dir, Path(index_dir), self._reindexed, _say, verbose=verbose
        )
        self.chat = ChatDesk(self.notes.index, chat_dir, make_assistant, _say)
        self.experiments = ExperimentsDesk(
            Path(index_dir),
            experiments_dir or default_cache_dir() / "experiments",
            experiments,
        )
        self.cards_status = self.rebuild_cards()

    @property
    def index(self) -> NotesIndex:
        return self.notes.index

    @property
    def report(self) -> BuildReport:
        return self.notes.report

    @property
    def models(self) -> ModelStatus:
        return self.chat.models

    def _reindexed(self, index: NotesIndex) -> str:
        """A new index (an upload, a delete, a re-index): the chat answers from it, the
        cards are rebuilt from it."""
        self.chat.swap_index(index)
        return self.rebuild_cards()

    def warm_up(self) -> float | None:
        return self.chat.warm_up()

    def models_view(self) -> tuple:
        """(the header's status line, its timer): the page asks again every few seconds
        while the models load, and stops once that is settled."""
        line = html.escape(self.models.line())
        return (
            f'<div class="model-status {self.models.state}">{line}</div>',
            gr.Timer(active=not self.models.settled),
        )

    # -- chat --------------------------------------------------------------------------

    def ask(self, question: str, session: ChatSession, *controls) -> Iterator[tuple]:
        """Stream one answer: yields (question box, chat, session, sources panel); the
        controls are ``settings_from_controls``'s six."""
        with _user_errors():
            settings = settings_from_controls(*controls)
            steps = self.chat.ask(question, session, settings)
            for step in steps:
                panel = (
                    sources_panel_html(session.cards, show=step.show) if step.done else gr.skip()
                )
                yield "", step.messages, session, panel

    @staticmethod
    def new_conversation() -> tuple:
        return [], ChatSession(), sources_panel_html([])

    @staticmethod
    def saved_chat(session: ChatSession) -> dict:
        """What the browser keeps of the conversation (gr.BrowserState)."""
        return session.to_json()

    def restore_chat(self, saved) -> tuple:
        """(chat, session, sources panel) from the browser's copy, on page load."""
        session, show = self.chat.restore(saved)
        return session.messages, session, sources_panel_html(session.cards, show=show)

    def export_chat(self, session: ChatSession) -> dict:
        """The conversation as a Markdown file in the download box."""
        with _user_errors():
            return gr.update(value=str(self.chat.export(session)), visible=True)

    # -- notes -------------------------------------------------------------------------

    def notes_view(self) -> tuple:
        """(table, delete choices, preview choices); the trash has its own, trash_view."""
        rows = self.notes.rows()
        sources = [row[0] for row in rows]
        return (
            rows,
            gr.Dropdown(choices=sources, value=None),
            gr.Dropdown(choices=sources, value=None),
        )

    def note_text(self, source: str | None) -> str:
        with _user_errors():
            return self.notes.note_text(source)

    def note_preview(self, source: str | None) -> str:
        with _user_errors():
            return self.notes.note_preview(source)

    def upload(
        self,
        files: list[str] | None,
        replace: bool,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> str:
        """Save the uploaded notes and re-index, in this one callback (so an API client
        that calls it gets the same index as the page)."""
        with _user_errors():
            return self.notes.upload(files, replace, progress)

    def confirm_delete(self, source: str | None) -> tuple:
        """(the confirmation box, its question): a delete is asked before it is done."""
        with _user_errors():
            return gr.Column(visible=True), self.notes.delete_question(source)

    def delete(
        self,
        source: str | None,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> tuple:
        """(status, the confirmation box hidden, the trash with the note selected)."""
        with _user_errors():
            status, trashed = self.notes.delete(source, progress)
        return status, gr.Column(visible=False), self.trash_view(trashed)

    def trash_view(self, selected: str | None = None) -> dict:
        """The trash's dropdown: each deleted note or replaced version, newest first."""
        choices = self.notes.trash()
        known = selected in {name for _, name in choices}
        return gr.Dropdown(choices=choices, value=selected if known else None)

    def restore(
        self,
        name: str | None,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> tuple:
        """(status, the trash without it)."""
        with _user_errors():
            return self.notes.restore(name, progress), self.trash_view()

    def reindex(self, progress=gr.Progress(track_tqdm=True)) -> str:  # noqa: B008 (Gradio's way)
        with _user_errors():
            return self.notes.reindex(progress)

    # -- study -------------------------------------------------------------------------

    def rebuild_cards(self) -> str:
        """The cards (re)built from the notes as the index holds them, reviews kept; one
        line saying what changed. A failure (a damaged deck) is that line, never raised:
        the chat works without a deck, and the study tab shows the error."""
        try:
            report = self.study.rebuild(self.index.chunks, self.index.chunk_config)
        except AssistantError as err:
            print(f"aviso: las tarjetas no se actualizaron: {err}", file=sys.stderr)
            return f"Tarjetas sin actualizar: {err}"
        return (
            f"Tarjetas: {report.cards} ({report.new} nuevas, {report.updated} actualizadas, "
            f"{report.retired} retiradas)."
        )

    def study_show(self, session: StudySession, mode: str) -> tuple:
        """The session's card, or the next due one, in the tab's components."""
        shown = session.card_id
        try:
            view = self.study.view(session)
        except AssistantError as err:
            return study_problem(session, str(err))
        if mode == STUDY_MODES[2] and view.row is not None and view.choice is None:
            try:
                view = replace(view, choice=self.study.choices(session))
            except AssistantError as err:  # no other card of its kind: flip this one
                _warn(str(err))
                mode = STUDY_MODES[0]
        return study_view(session, view, mode, new_card=session.card_id != shown)

    def study_reveal(self, session: StudySession, mode: str) -> tuple:
        with _user_errors():
            self.study.reveal(session)
        return self.study_show(session, mode)

    def study_check(
        self, answer: str, option: int | None, session: StudySession, mode: str
    ) -> tuple:
        """Grade a written answer, or check the option picked: the back, the passage and
        the proposed rating."""
        with _user_errors():
            if mode == STUDY_MODES[2]:
                self.study.pick(session, option)
            else:
                self.study.grade(session, answer)
        return self.study_show(session, mode)

    def study_rate(self, rating: str, session: StudySession, mode: str) -> tuple:
        """Save a rating, then show the next due card. A card that left the deck meanwhile
        (its note edited or deleted) is a warning, and the next card comes."""
        try:
            self.study.rate(session, rating)
        except StudyError as err:
            raise _error(str(err)) from None
        except AssistantError as err:
            _warn(str(err))
        return self.study_show(session, mode)

    def study_stats(self, session: StudySession) -> tuple:
        """(progress line, statistics line, reviews-per-day PNG, retention table)."""
        try:
            stats = self.study.stats()
            plot = str(self.study.plot(stats))
        except AssistantError as err:
            return f"⚠ {html.escape(str(err))}", "", None, []
        return (
            progress_markdown(stats, session.reviewed, session.last),
            stats_markdown(stats),
            plot,
            retention_rows(stats),
        )

    def study_export(self, fmt: str) -> dict:
        """The deck as an Anki package or CSV in the study folder, in the download box (an
        update: a gr.File built here would copy the file into Gradio's cache at once)."""
        with _user_errors():
            out, written = self.study.export(fmt)  # type: ignore[arg-type]
        gr.Info(f"Exportadas {written} tarjetas a {out.name}")
        return gr.update(value=str(out), visible=True)

    # -- experiments -------------------------------------------------------------------

    def experiment(
        self,
        strategies: list[str],
        models: list[str],
        limit: float,
        progress=gr.Progress(),  # noqa: B008 (Gradio's way of asking for a progress bar)
    ) -> tuple:
        """Run the experiment grid in the worker's child process, following its progress;
        returns (status, table, plots, report)."""
        with _user_errors():
            return experiment_view(self.experiments.run(strategies, models, limit, progress))

    def cancel_experiment(self) -> str:
        return self.experiments.cancel()

    def published_experiment(self) -> tuple:
        return experiment_view(self.experiments.published())


def experiment_view(outcome: ExperimentOutcome) -> tuple:
    """(status, table, plots, report) for an experiment's outcome. The report is rendered
    from the results as the grid is (same units and headers, even for a report.md written
    by an older version) and without its plots section: the gallery shows the same PNGs,
    and Markdown here cannot reach the files."""
    if outcome.result is None or outcome.folder is None:
        return outcome.status, None, [], ""
    headers, rows = results_table(outcome.result)
    text = render_report(outcome.result, plots={})
    return (
        outcome.status,
        gr.Dataframe(value=rows, headers=headers) if rows else None,
        sorted(str(p) for p in outcome.folder.glob("*.png")),
        text,
    )


def study_view(session: StudySession, view: CardView, mode: str, new_card: bool) -> tuple:
    """(session, front, back, answer box, options, actions row, check, reveal, ratings row,
    4 rating buttons): the front alone (with its options, in choice mode), then the back
    with its passage and the four ratings; the rating proposed for a written answer or a
    pick is the highlighted button. The answer box is emptied only for a new card: a
    redraw (another tab, the mode) keeps what is being typed."""
    card, written = view.row is not None, mode == STUDY_MODES[1]
    choosing = card and mode == STUDY_MODES[2] and view.choice is not None
    proposal = view.proposal
    check = card and (written or (choosing and not view.revealed))
    reveal = card and not view.revealed and not choosing
    answer = {"value": view.answer} if new_card else {}
    options = {}
    if choosing:  # an update's value is the option's text, even with type="index"
        picked = view.choice.options[view.picked] if view.picked is not None else None
        options = {"choices": list(view.choice.options), "value": picked}
    return (
        session,
        front_html(view),
        back_html(view),
        gr.update(visible=card and written, **answer),
        gr.update(visible=choosing, interactive=not view.revealed, **options),
        gr.Row(visible=check or reveal),  # an empty row would still take its height
        gr.Button(visible=check),
        gr.Button(visible=reveal),
        gr.Row(visible=card and view.revealed),
        *(
            gr.Button(variant="primary" if name == proposal else "secondary")
            for name in RATING_KEYS.values()
        ),
    )


def study_problem(session: StudySession, message: str) -> tuple:
    """study_view's outputs when the deck cannot be read: the message, no card."""
    session.show(None)
    return (
        session,
        error_html(message),
        "",
        gr.Textbox(visible=False),
        gr.Radio(visible=False),
        gr.Row(visible=False),
        gr.Button(visible=False),
        gr.Button(visible=False),
        gr.Row(visible=False),
        *(gr.Button(variant="secondary") for _ in RATING_KEYS),
    )


def _error(message: str) -> gr.Error:
    """A user's mistake, for the page: one line in the server log, no traceback (Gradio
    prints one for every other exception: those are bugs). gr.Error renders HTML; file
    names and loader messages must stay text."""
    log.info("error de usuario: %s", message)
    return gr.Error(html.escape(message), print_exception=False)


@contextmanager
def _user_errors() -> Iterator[None]:
    """A desk's AssistantError as the page's one-line error."""
    try:
        yield
    except AssistantError as err:
        raise _error(str(err)) from None


def note_files(**options) -> gr.File:
    """A gr.File without Gradio 6.31's leak: its preprocess opens an empty
    NamedTemporaryFile(delete=False) in the upload folder for every file and drops it
    (components/file.py, _process_single_file), so each upload left a file behind. The
    method is replaced on this one instance: a subclass would make Gradio write a .pyi
    file beside app.py. A file of the wrong type is deleted and refused as a user error."""
    files = gr.File(**options)

    def process_single_file(upload) -> NamedString:
        if files.file_types and not is_valid_file(upload.path, files.file_types):
            discard_upload(upload.path)
            raise _error(
                f"{Path(upload.path).name}: tipo de archivo no admitido; sube .md, .txt o .pdf"
            )
        return NamedString(upload.path)

    files._process_single_file = process_single_file
    return files


def _warn(message: str) -> None:
    gr.Warning(html.escape(message))


def _say(message: str) -> None:
    """The desks' warnings: _warn looked up when one comes (tests replace it)."""
    _warn(message)


# -- UI ----------------------------------------------------------------------------------


STATIC = ROOT / "assistant" / "web" / "static"
CSS = (STATIC / "app.css").read_text(encoding="utf-8")
HEAD = f"<script>\n{(STATIC / 'app.js').read_text(encoding='utf-8')}</script>"

THEME = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def build_ui(app: StudyApp) -> gr.Blocks:
    hidden = {"api_visibility": "private"}  # steps of a chain, not API endpoints
    with gr.Blocks(title="Asistente de estudio") as demo:
        gr.Markdown("## Asistente de estudio · pregunta a tus notas")
        models_status = gr.HTML(elem_id="model-status")
        models_timer = gr.Timer(2.0)
        models_out = [models_status, models_timer]
        models_timer.tick(app.models_view, None, models_out, show_progress="hidden", **hidden)
        demo.load(app.models_view, None, models_out, show_progress="hidden", **hidden)
        with gr.Tab("Chat"):
            session = gr.State(ChatSession())
            # The conversation, kept in this browser (localStorage) so a reload finds it.
            saved_chat = gr.BrowserState(
                {}, storage_key=CHAT_STORAGE_KEY, secret=app.browser_secret
            )
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversación",
                        height=520,
                        elem_id="chat",
                        feedback_options=None,
                        buttons=["copy", "copy_all"],
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder="Pregunta algo de tus notas…",
                            show_label=False,
                            scale=5,
                            elem_id="question",
                        )
                        send = gr.Button("Preguntar", variant="primary", scale=1)
                    with gr.Row():
                        new_chat = gr.Button("Nueva conversación", size="sm")
                        export_chat = gr.Button(
                            "Exportar conversación", size="sm", elem_id="export-chat"
                        )
                    exported_chat = gr.File(
                        label="Conversación exportada (Markdown)",
                        interactive=False,
                        visible=False,
                        elem_id="chat-export",
                    )
                with gr.Column(scale=2):
                    sources = gr.HTML(
                        sources_panel_html([]), label="Fuentes", elem_id="sources", js_on_load=None
                    )
            with gr.Accordion("Ajustes", open=False):
                with gr.Row():
                    # openai:NAME: what STUDY_ASSISTANT_OPENAI_BASE_URL serves (_MODEL names it).
                    model = gr.Dropdown(
                        [*MODELS, *configured_models()], value=ChatSettings.model, label="Modelo"
                    )
                    adapter = gr.Checkbox(
                        ChatSettings.adapter is not None,
                        label="Adaptador LoRA (entrenado con tus notas)",
                    )
                    strategy = gr.Dropdown(
                        list(STRATEGIES), value=ChatSettings.strategy, label="Estrategia"
                    )
                with gr.Row():
                    passages = gr.Slider(
                        1, 10, value=ChatSettings.passages, step=1, label="Pasajes"
                    )
                    max_new_tokens = gr.Slider(
                        16,
                        512,
                        value=ChatSettings.max_new_tokens,
                        step=16,
                        label="Máximo de tokens nuevos",
                    )
                    temperature = gr.Slider(
                        0.0, 1.5, value=ChatSettings.temperature, step=0.1, label="Temperatura"
                    )
            chat_out = [chatbot, session, sources]
            # After every question (answered or failed): the browser's copy, the models' line.
            gr.on(
                [question.submit, send.click],
                app.ask,
                [
                    question,
                    session,
                    model,
                    adapter,
                    strategy,
                    passages,
                    max_new_tokens,
                    temperature,
                ],
                [question, chatbot, session, sources],
                api_name="ask",
                concurrency_limit=1,
                concurrency_id="generation",
            ).then(app.saved_chat, session, saved_chat, **hidden).then(
                app.models_view, None, models_out, show_progress="hidden", **hidden
            )
            new_chat.click(app.new_conversation, None, chat_out, api_name="new_conversation").then(
                app.saved_chat, session, saved_chat, **hidden
            )
            chatbot.clear(app.new_conversation, None, chat_out, **hidden).then(
                app.saved_chat, session, saved_chat, **hidden
            )
            export_chat.click(app.export_chat, session, exported_chat, **hidden)
            demo.load(app.restore_chat, saved_chat, chat_out, **hidden)
            model.change(
                lambda name: gr.Checkbox(interactive=name in ADAPTERS, value=name in ADAPTERS),
                model,
                adapter,
                api_visibility="private",
            )

        with gr.Tab("Estudiar") as study_tab:
            study = study_tab_ui(app)
        study.redraw_on(demo.load)
        study.redraw_on(study_tab.select)

        with gr.Tab("Notas"):
            gr.Markdown(f"Carpeta de notas: `{app.notes_dir}`")
            notes_table = gr.Dataframe(
                app.notes.rows(),
                headers=["Nota", "Fragmentos", "Tamaño"],
                interactive=False,
                label="Tus notas",
                elem_id="notes-table",
            )
            notes_status = gr.Textbox(
                show_label=False, interactive=False, lines=2, elem_id="notes-status"
            )
            with gr.Row():
                with gr.Column():
                    files = note_files(
                        elem_id="upload-notes",
                        file_count="multiple",
                        file_types=[".md", ".txt", ".pdf"],
                        label="Subir notas (.md, .txt, .pdf; texto hasta 5 MB, PDF hasta 50 MB)",
                    )
                    replace = gr.Checkbox(False, label="Reemplazar si ya existe")
                    add = gr.Button("Añadir a mis notas", variant="primary")
                with gr.Column():
                    # Any name is let through to delete(), which refuses what is not a note:
                    # an API client never saw the page's choices.
                    to_delete = gr.Dropdown(
                        [], label="Nota que borrar", elem_id="to-delete", allow_custom_value=True
                    )
                    delete = gr.Button("Borrar nota", variant="stop", elem_id="delete-note")
                    with gr.Column(visible=False) as confirm_box:
                        confirm_text = gr.HTML(elem_id="confirm-delete-text")
                        with gr.Row():
                            confirm = gr.Button(
                                "Sí, mover a la papelera", variant="stop", elem_id="confirm-delete"
                            )
                            cancel = gr.Button("Cancelar", elem_id="cancel-delete")
                    trashed = gr.Dropdown(
                        [],
                        label="Papelera (notas borradas y versiones reemplazadas)",
                        elem_id="trash",
                    )
                    restore = gr.Button("Recuperar de la papelera", elem_id="restore-note")
                    reindex = gr.Button("Reindexar")
            to_preview = gr.Dropdown([], label="Ver una nota")
            gr.Markdown("Contenido de la nota:")
            preview = gr.HTML(elem_id="note-preview")
            view = [notes_table, to_delete, to_preview]
            # app.reindex rebuilds the cards too; the study tab then shows the new deck.
            study.refresh_after(
                # Gradio's copies are deleted either way: the picker must not offer them.
                add.click(app.upload, [files, replace], notes_status)
                .then(lambda: None, None, files, **hidden)
                .then(app.notes_view, None, view, **hidden)
                .then(app.trash_view, None, trashed, **hidden)  # a replaced note's old version
            )
            delete.click(app.confirm_delete, to_delete, [confirm_box, confirm_text], **hidden)
            # Another note chosen, or the list redrawn: the question asked no longer holds.
            gr.on(
                [cancel.click, to_delete.change],
                lambda: gr.Column(visible=False),
                None,
                confirm_box,
                **hidden,
            )
            study.refresh_after(
                confirm.click(app.delete, to_delete, [notes_status, confirm_box, trashed]).then(
                    app.notes_view, None, view, **hidden
                )
            )
            study.refresh_after(
                restore.click(app.restore, trashed, [notes_status, trashed], **hidden).then(
                    app.notes_view, None, view, **hidden
                )
            )
            study.refresh_after(
                reindex.click(app.reindex, None, notes_status).then(
                    app.notes_view, None, view, **hidden
                )
            )
            to_preview.change(app.note_preview, to_preview, preview, **hidden)
            demo.load(app.notes_view, None, view, **hidden)
            demo.load(app.trash_view, None, trashed, **hidden)

        with gr.Tab("Experimentos"):
            gr.Markdown(
                f"Evalúa estrategias y modelos con las preguntas de "
                f"`{EXPERIMENT_QUESTIONS.relative_to(ROOT)}` (hechas para las notas por "
                "defecto). Tarda minutos y se ejecuta aparte: el chat sigue respondiendo. Un "
                f"experimento a la vez, de hasta {app.experiments.worker.max_answers} respuestas "
                "(estrategias × modelos × preguntas); «Cancelar» lo detiene."
            )
            with gr.Row():
                exp_strategies = gr.CheckboxGroup(
                    list(EXPERIMENT_STRATEGIES), value=["zero-shot"], label="Estrategias"
                )
                exp_models = gr.CheckboxGroup(
                    list(EXPERIMENT_MODELS), value=["gemma-270m"], label="Modelos"
                )
                exp_limit = gr.Number(
                    10, minimum=1, maximum=500, precision=0, label="Máximo de preguntas"
                )
            with gr.Row():
                run = gr.Button("Ejecutar", variant="primary")
                cancel_run = gr.Button("Cancelar", variant="stop", elem_id="cancel-experiment")
            exp_status = gr.Markdown()
            exp_table = gr.Dataframe(label="Resultados", interactive=False)
            exp_plots = gr.Gallery(
                label="Gráficas",
                columns=2,
                object_fit="contain",
                height="auto",
                preview=False,
                elem_id="exp-plots",
            )
            exp_report = gr.Markdown()
            # Its own slot: a run never holds the chats' ("generation"). The worker refuses
            # a second run while one is in progress, whoever asks.
            run.click(
                app.experiment,
                [exp_strategies, exp_models, exp_limit],
                [exp_status, exp_table, exp_plots, exp_report],
                concurrency_limit=2,
                concurrency_id="experiment",
            )
            cancel_run.click(app.cancel_experiment, None, exp_status, concurrency_limit=None)
            demo.load(
                app.published_experiment,
                None,
                [exp_status, exp_table, exp_plots, exp_report],
                **hidden,
            )
    return demo


@dataclass
class StudyTab:
    """The study tab's components that other tabs' events refresh."""

    app: StudyApp
    session: gr.State
    mode: gr.Radio
    card: list  # study_view's outputs
    stats: list  # study_stats' outputs

    def redraw_on(self, trigger) -> None:
        """Redraw the tab (its card, progress and statistics) on ``trigger`` (an event
        listener such as ``demo.load``): a deck changed elsewhere shows as it is now."""
        hidden = {"api_visibility": "private"}
        trigger(self.app.study_show, [self.session, self.mode], self.card, **hidden).then(
            self.app.study_stats, self.session, self.stats, **hidden
        )

    def refresh_after(self, event) -> None:
        """Chain the same redraw to the end of ``event`` (a Notes tab chain)."""
        self.redraw_on(event.then)


def study_tab_ui(app: StudyApp) -> StudyTab:
    """Due cards one at a time (front; "Mostrar respuesta": back and passage; four
    ratings, keys 1-4 in app.js), or a written answer first with a proposed rating;
    progress, statistics and exports beside it."""
    hidden = {"api_visibility": "private"}
    session = gr.State(StudySession())
    progress = gr.Markdown(elem_id="study-progress")
    with gr.Row():
        with gr.Column(scale=3):
            mode = gr.Radio(list(STUDY_MODES), value=STUDY_MODES[0], label="Modo")
            front = gr.HTML(elem_id="study-front")
            answer = gr.Textbox(
                label="Tu respuesta",
                placeholder="Escribe lo que recuerdes y pulsa «Comprobar respuesta»…",
                lines=2,
                visible=False,
                elem_id="study-answer",
            )
            options = gr.Radio(
                [],
                type="index",  # study_check gets the option's position
                label="Elige la respuesta",
                visible=False,
                elem_id="study-options",
            )
            with gr.Row() as actions:
                check = gr.Button("Comprobar respuesta", visible=False, elem_id="study-check")
                reveal = gr.Button("Mostrar respuesta", variant="primary", elem_id="study-reveal")
            back = gr.HTML(elem_id="study-back")
            with gr.Row(visible=False) as ratings:
                buttons = {
                    name: gr.Button(f"{rating_label(name)} ({key})", elem_id=f"study-rate-{key}")
                    for key, name in RATING_KEYS.items()
                }
            gr.Markdown(
                "<small>Atajos de teclado: 1 Otra vez · 2 Difícil · 3 Bien · 4 Fácil "
                "(con la respuesta a la vista, fuera del cuadro de texto).</small>"
            )
        with gr.Column(scale=2):
            summary = gr.Markdown(elem_id="study-stats")
            plot = gr.Image(
                label="Repasos por día",  # the plot's own title says it on screen
                show_label=False,
                type="filepath",
                interactive=False,
                buttons=[],
                elem_id="study-plot",
            )
            retention = gr.Dataframe(
                headers=["Nota", "Repasos", "Retención"],
                interactive=False,
                label="Retención por nota (repasos que no fueron «Otra vez»)",
                elem_id="study-retention",
            )
            with gr.Row():
                to_anki = gr.Button("Exportar a Anki (.apkg)", size="sm")
                to_csv = gr.Button("Exportar a CSV", size="sm")
            exported = gr.File(
                label="Archivo exportado", interactive=False, visible=False, elem_id="study-export"
            )
            gr.Markdown(f"<small>Mazo: `{app.study.deck_path}`</small>")

    tab = StudyTab(
        app,
        session,
        mode,
        card=[
            session,
            front,
            back,
            answer,
            options,
            actions,
            check,
            reveal,
            ratings,
            *buttons.values(),
        ],
        stats=[progress, summary, plot, retention],
    )
    card_in = [session, mode]
    reveal.click(app.study_reveal, card_in, tab.card, **hidden)
    gr.on(
        [check.click, answer.submit],
        app.study_check,
        [answer, options, *card_in],
        tab.card,
        **hidden,
    )
    for name, button in buttons.items():  # the next card, then the new statistics
        button.click(partial(app.study_rate, name), card_in, tab.card, **hidden).then(
            app.study_stats, session, tab.stats, **hidden
        )
    mode.change(app.study_show, card_in, tab.card, **hidden)
    to_anki.click(partial(app.study_export, "apkg"), None, exported, **hidden)
    to_csv.click(partial(app.study_export, "csv"), None, exported, **hidden)
    return tab


# -- start -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Asistente de estudio en el navegador")
    parser.add_argument("--host", default=env("STUDY_ASSISTANT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("STUDY_ASSISTANT_PORT", "7860")))
    parser.add_argument("--notes", default=env("STUDY_ASSISTANT_NOTES", str(DEFAULT_NOTES)))
    parser.add_argument("--index", default=env("STUDY_ASSISTANT_INDEX", str(DEFAULT_INDEX)))
    parser.add_argument(
        "--deck",
        default=env("STUDY_ASSISTANT_DECK"),
        help="mazo de estudio (.sqlite; por defecto, el de --notes en la caché, como "
        "`cards build`; nunca dentro de la carpeta de notas)",
    )
    parser.add_argument(
        "--auth",
        help="usuario:contraseña para entrar en la app (se ve con ps: mejor --auth-file o "
        "la variable STUDY_ASSISTANT_AUTH)",
    )
    parser.add_argument(
        "--auth-file",
        help="archivo cuya primera línea es usuario:contraseña "
        "(o la variable STUDY_ASSISTANT_AUTH_FILE)",
    )
    return parser.parse_args(argv)


def exposure_warning(host: str, auth: tuple[str, str] | None) -> str | None:
    if auth or is_loopback(host):
        return None
    return (
        f"aviso: la app escucha en {host} sin contraseña: cualquiera que llegue a esta "
        "máquina puede leer y cambiar tus notas; añade --auth-file ARCHIVO (usuario:contraseña)"
    )


def log_to_stderr() -> None:
    """The server log: the app's own INFO lines (user errors) on stderr, one each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        auth, warnings = resolve_auth(args.auth, args.auth_file)
        for warning in warnings:
            print(warning, file=sys.stderr)
        check_port_free(args.host, args.port)  # before the indexing and the models
        if warning := exposure_warning(args.host, auth):
            print(warning, file=sys.stderr)
        check_index_dir(args.index, args.notes)  # a bad --index fails before any loading
        print(f"Indexando {args.notes} en {args.index}…", file=sys.stderr)
        app = StudyApp(args.notes, args.index, verbose=sys.stderr.isatty(), deck_path=args.deck)
    except AssistantError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"Notas: {app.report.notes} notas, {app.report.chunks} fragmentos. Mazo "
        f"{app.study.deck_path}: {app.cards_status} Los modelos se cargan en segundo plano; "
        "una pregunta que llegue antes espera a que estén listos.",
        file=sys.stderr,
    )

    def warm_up() -> None:
        if (seconds := app.warm_up()) is not None:
            print(f"Modelos listos en {seconds:.1f} s.", file=sys.stderr)

    app.models.loading()  # before the page can ask: the thread may start a moment later
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    try:
        launch(app, args.host, args.port, auth)
    except AssistantError as err:  # the upload folder
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the port was taken between the check and the launch
        print(
            f"error: no se puede escuchar en {args.host}:{args.port} ({err}): elige otro "
            "puerto con --port",
            file=sys.stderr,
        )
        return 2
    return 0


def launch(
    app: StudyApp,
    host: str,
    port: int,
    auth: tuple[str, str] | None = None,
    block: bool = True,
    login_throttle: LoginThrottle | None = None,
) -> gr.Blocks:
    """Build the UI and serve it; ``block=False`` returns once it listens (the browser
    tests), the caller then closes it. Uploads go to the app's own folder for ``port``,
    emptied first (assistant/web/uploads.py). Wrong passwords are throttled per client
    (assistant/web/login.py; ``login_throttle``: the tests' own clock)."""
    use_upload_dir(upload_dir_for(port))
    demo = build_ui(app)
    throttle = login_throttle or LoginThrottle()
    demo.queue(max_size=64).launch(
        app_kwargs={"middleware": [Middleware(ThrottledLogin, throttle=throttle)]},
        server_name=host,
        server_port=port,
        auth=auth,
        max_file_size=MAX_UPLOAD,
        # Files the app hands out: experiment plots, the study tab's plot and exports, and
        # exported conversations.
        allowed_paths=[
            str(app.experiments.out_dir),
            str(app.study.exports_dir),
            str(app.chat.chat_dir),
        ],
        theme=THEME,
        css=CSS,
        head=HEAD,
        footer_links=["api"],
        run_history=False,
        show_error=False,
        prevent_thread_lock=not block,
        quiet=not block,
    )
    return demo


if __name__ == "__main__":
    log_to_stderr()  # here, not in main(): tests call main() with stderr captured
    sys.exit(main())
