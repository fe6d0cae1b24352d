"""The callbacks the app's components call: each turns a desk's result into the
components' values and a desk's AssistantError into the page's one-line error (desks:
chat_desk, notes_desk, study_desk, experiments_desk; Gradio-free). app.py builds the page
and wires its components here.
"""

from __future__ import annotations

import html
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr
from gradio.utils import NamedString
from gradio_client.utils import is_valid_file

from assistant.answer import Assistant
from assistant.settings import ChatSettings, load_assistant
from assistant.study.browse import BROWSE_HEADERS, browse_rows, deleted_choices
from assistant.study.records import DeckCard
from assistant.study.schedule import RATING_KEYS
from assistant.support import Checker
from assistant.web.answer_html import (
    error_html,
    sources_panel_html,
)
from assistant.web.card_html import (
    back_html,
    browsed_card_markdown,
    front_html,
    option_keys,
    options_html,
    progress_markdown,
    rating_button,
    retention_rows,
    stats_markdown,
)
from assistant.web.chat_desk import ChatDesk, settings_from_controls
from assistant.web.chat_state import (
    ChatSession,
    browser_secret,
)
from assistant.web.experiment_progress import no_progress
from assistant.web.experiments_desk import ExperimentOutcome, ExperimentsDesk
from assistant.web.map_desk import MapDesk
from assistant.web.model_status import ModelStatus
from assistant.web.notes_desk import NotesDesk
from assistant.web.study_desk import CardView, StudyDesk, StudyError, StudySession
from assistant.web.uploads import discard_upload
from corpus.errors import AssistantError
from corpus.notebooks import Notebook, Notebooks
from corpus.paths import default_cache_dir, default_deck_path
from eval.experiment.report import render_report, results_table
from eval.experiment.worker import ExperimentWorker
from index.merged import open_notebooks
from index.store import BuildReport, NotesIndex

STUDY_MODES = ("Tarjetas", "Respuesta escrita", "Opciones")  # flip, write, or pick the back
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
        self.verbose = verbose
        self._study_dir = study_dir or default_cache_dir() / "study"
        self._make_checker = make_checker
        chat_dir = chat_dir or default_cache_dir() / "chat"
        # The key of the browsers' copies of their conversations.
        self.browser_secret = browser_secret(chat_dir / "browser-secret")
        # Before indexing: a deck inside the notes folder fails at once. The grading
        # checker is the study tab's own (e5 alone), so it never waits for the chat model.
        self.study = StudyDesk(
            Path(deck_path).expanduser() if deck_path else default_deck_path(self.notes_dir),
            self.notes_dir,
            self._study_dir,
            make_checker,
        )
        self.notes = NotesDesk(
            self.notes_dir, Path(index_dir), self._reindexed, _say, verbose=verbose
        )
        self.chat = ChatDesk(self.notes.index, chat_dir, make_assistant, _say, self.notes_dir)
        self.experiments = ExperimentsDesk(
            Path(index_dir),
            experiments_dir or default_cache_dir() / "experiments",
            experiments,
        )
        self.cards_status = self.rebuild_cards()
        # The folder it starts on is a notebook: the registry's, or one listed while the
        # app runs (never written there: a bench's temporary folder must not stay in a
        # student's list; "Crear" keeps one). Its index and deck stay the ones it was
        # started with, whenever it is chosen again.
        self.notebooks = Notebooks()
        self._started = (self.notes_dir.resolve(), Path(index_dir), self.study.deck_path)
        self._switching = threading.Lock()  # one notebook switch (or change) at a time
        try:
            found = self.notebooks.find_folder(self.notes_dir)
            name = self.notebooks.name_for(self.notes_dir)
        except AssistantError as err:  # a damaged registry: this folder alone, as before
            print(f"aviso: {err}", file=sys.stderr)
            found, name = None, self.notes_dir.resolve().name
        self.notebook = found or Notebook(name, self.notes_dir.resolve())
        self._unsaved = None if found else self.notebook  # listed, not in the registry
        self._everything: NotesIndex | None = None  # every notebook's, built when asked
        self.chat.everything = self.everything

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
        self._everything = None
        return self.rebuild_cards()

    def everything(self) -> NotesIndex:
        """One index over every notebook (the chat's "todas" scope): each notebook's folder
        indexed as when it is opened (with this notebook's embedder), kept until a notebook
        changes here. A notebook whose folder cannot be indexed is a warning and left out."""
        with self._switching:
            if self._everything is not None:
                return self._everything
            started, index_dir, _ = self._started
            merged, left_out, _ = open_notebooks(
                self._all_notebooks(),
                self.index.config,
                opened={self.notebook.notes_dir: self.index},
                index_dirs={started: index_dir},
            )
            for line in left_out:
                _warn(line)
            self._everything = merged
            return self._everything

    def warm_up(self) -> float | None:
        return self.chat.warm_up()

    # -- notebooks ---------------------------------------------------------------------

    def open_notebook(self, name: str, progress=no_progress) -> str:
        """Make ``name`` the notebook every tab works on: its folder indexed (only changed
        notes embedded, with the same embedder as the notebook the app started on), its
        deck's cards rebuilt; the chat's models stay loaded (the assistants are rebuilt
        over the new index, the generators are cached process-wide). A folder that
        cannot be indexed is an error and the previous notebook stays."""
        with self._switching:
            notebook = self._get(name)
            if notebook.notes_dir == self.notebook.notes_dir:
                self.notebook = notebook  # a rename: same folder, new name
                return f"Cuaderno «{notebook.name}»."
            started, index_dir, deck = self._started
            if notebook.notes_dir != started:
                index_dir, deck = notebook.index_dir, notebook.deck_path
            progress(0, desc=f"Indexando el cuaderno «{notebook.name}»…")
            notes = NotesDesk(
                notebook.notes_dir,
                index_dir,
                self._reindexed,
                _say,
                verbose=self.verbose,
                index_config=self.index.config,
            )
            study = StudyDesk(deck, notebook.notes_dir, self._study_dir, self._make_checker)
            self.notebook, self.notes_dir, self.notes, self.study = (
                notebook,
                notebook.notes_dir,
                notes,
                study,
            )
            self.chat.open_folder(notes.index, notebook.notes_dir)
            self.experiments.index_dir = index_dir  # its questions are the default notes'
            self._everything = None
            self.cards_status = self.rebuild_cards()
        lines = [f"Cuaderno «{notebook.name}».", notes.report.summary(), self.cards_status]
        return "  \n".join("\n".join(lines).splitlines())  # Markdown line breaks

    def _all_notebooks(self) -> list[Notebook]:
        """The registry's notebooks, and the folder the app started on if it is not one."""
        listed = self.notebooks.all()
        unsaved = self._unsaved
        if unsaved is not None and all(nb.notes_dir != unsaved.notes_dir for nb in listed):
            listed.append(unsaved)
        return listed

    def _get(self, name: str) -> Notebook:
        wanted = (name or "").strip().casefold()
        for notebook in self._all_notebooks():
            if notebook.name.casefold() == wanted:
                return notebook
        return self.notebooks.get(name)  # NotebookError naming the ones there are

    def notebook_view(self) -> tuple:
        """(the selector, the folder line of the Notes tab, the deck line of the Study tab)."""
        try:
            names = [notebook.name for notebook in self._all_notebooks()]
        except AssistantError as err:
            _warn(str(err))
            names = [self.notebook.name]
        if self.notebook.name not in names:
            names.append(self.notebook.name)
        return (
            gr.update(choices=names, value=self.notebook.name),
            f"Carpeta de notas: `{self.notes_dir}`",
            self.deck_line(),
        )

    def deck_line(self) -> str:
        """Which deck the study tab shows: the notebook's, by its name (not its file)."""
        return f"<small>Mazo del cuaderno «{html.escape(self.notebook.name)}»</small>"

    def switch_notebook(
        self,
        name: str | None,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> str:
        with _user_errors():
            if not name:
                raise AssistantError("Elige un cuaderno")
            return self.open_notebook(name, progress)

    def create_notebook(
        self,
        folder: str,
        name: str,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> tuple:
        """A notebook from a folder (named after it unless ``name``), opened at once;
        returns (status, folder box emptied, name box emptied)."""
        with _user_errors():
            if name and name.strip():
                notebook = self.notebooks.add(name, folder)
            else:
                notebook = self.notebooks.add_folder(folder)
            return self.open_notebook(notebook.name, progress), "", ""

    def rename_notebook(self, new_name: str, saved) -> tuple:
        """Rename the notebook in use; (status, name box emptied, the browser's saved
        conversations with its conversation under the new name)."""
        with _user_errors(), self._switching:
            old = self.notebook.name
            if self._unsaved is not None and self._unsaved.name == old:
                # Listed only while the app runs: a name of its own keeps it.
                self.notebook = self.notebooks.add(new_name, self.notebook.notes_dir)
                self._unsaved = None
            else:
                self.notebook = self.notebooks.rename(old, new_name)
            self._everything = None
        return (
            f"Cuaderno «{old}» renombrado a «{self.notebook.name}».",
            "",
            _renamed(saved, old, self.notebook.name),
        )

    def remove_notebook(
        self,
        progress=gr.Progress(track_tqdm=True),  # noqa: B008 (Gradio's way)
    ) -> str:
        """Forget the notebook in use (its folder is not touched) and open the default."""
        with _user_errors():
            removed = self.notebooks.remove(self.notebook.name)
            status = self.open_notebook(self.notebooks.default.name, progress)
        return (
            f"Cuaderno «{removed.name}» quitado de la lista; sus notas siguen en "
            f"{removed.notes_dir} (no se ha borrado nada). {status}"
        )

    def models_view(self) -> tuple:
        """(the header's status line, its timer): the page asks again every few seconds
        while the models load, and stops once that is settled."""
        line = html.escape(self.models.line())
        return (
            f'<div class="model-status {self.models.state}">{line}</div>',
            gr.Timer(active=not self.models.settled),
        )

    # -- chat --------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        session: ChatSession,
        model: str,
        adapter: bool,
        strategy: str,
        passages: float,
        max_new_tokens: float,
        temperature: float,
        everywhere: bool = False,
        tags: list[str] | None = None,
    ) -> Iterator[tuple]:
        """Stream one answer: yields (question box, chat, session, sources panel); the six
        controls of ``settings_from_controls``, then the scope (every notebook or this
        one) and the tags that filter the passages (as #tag in the question: what the
        student reads is what was asked)."""
        with _user_errors():
            settings = settings_from_controls(
                model, adapter, strategy, passages, max_new_tokens, temperature
            )
            wanted = [
                f"#{tag}" for tag in tags or () if f"#{tag}".casefold() not in question.casefold()
            ]
            if wanted and question.strip():
                question = f"{question.rstrip()} {' '.join(wanted)}"
            steps = self.chat.ask(question, session, settings, everywhere=bool(everywhere))
            for step in steps:
                panel = (
                    sources_panel_html(session.cards, show=step.show) if step.done else gr.skip()
                )
                yield "", step.messages, session, panel

    def tags_view(self, chosen: list[str] | None = None) -> dict:
        """The tag filter's choices: the notebook's tags; the ones chosen still there."""
        tags = sorted(self.index.tags(), key=str.casefold)
        return gr.update(choices=tags, value=[tag for tag in chosen or () if tag in tags])

    @staticmethod
    def new_conversation() -> tuple:
        return [], ChatSession(), sources_panel_html([])

    def saved_chat(self, session: ChatSession, saved) -> dict:
        """What the browser keeps (gr.BrowserState): each notebook's conversation, this
        one's updated."""
        return {
            SAVED_KEY: {**_saved_chats(saved), self.notebook.name: session.to_json()},
        }

    def restore_chat(self, saved) -> tuple:
        """(chat, session, sources panel): the notebook's conversation from the browser's
        copy, on page load and when another notebook is opened."""
        chats = _saved_chats(saved)
        if not isinstance(saved, dict) or SAVED_KEY not in saved:
            chats = {self.notebook.name: saved}  # one conversation, kept before notebooks
        session, show = self.chat.restore(chats.get(self.notebook.name, {}))
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

    def open_linked(self, name: str | None):
        """A [[link]] clicked in the preview (app.js writes its note here): that note in
        the preview's picker, whose change draws it; a note gone meanwhile is a warning."""
        note = self.notes.linked_note(name)
        if note is None:
            if name:
                _warn(f"No hay ninguna nota {name!r}")
            return gr.skip()
        return note

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
            index = self.index  # its embedder picks the multiple-choice options too
            report = self.study.rebuild(
                index.chunks, index.chunk_config, embedder=index.config.embedder
            )
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

    def study_undo(self, session: StudySession, mode: str) -> tuple:
        """Take back the session's last rating: that card is on screen again, front first."""
        with _user_errors():
            self.study.undo(session)
        return self.study_show(session, mode)

    def study_settings(self, new_per_day=None, retention=None) -> tuple:
        """(new cards a day, desired retention) as the deck stores them. A control that
        already shows the deck's value (``new_per_day``, ``retention``: what it showed when
        the redraw began) is left alone, so a redraw never overwrites what is being typed;
        both are left as they are when the deck cannot be read (the card shows why)."""
        try:
            config = self.study.settings()
        except AssistantError:
            return gr.update(), gr.update()
        return (
            gr.update() if new_per_day == config.new_per_day else config.new_per_day,
            gr.update() if retention == config.desired_retention else config.desired_retention,
        )

    def study_configure(self, new_per_day: float | None, retention: float | None) -> tuple:
        """Save the tab's scheduling settings in the deck (the CLI reads them too)."""
        with _user_errors():
            self.study.configure(
                None if new_per_day is None else int(new_per_day),
                retention,
            )
        return self.study_settings()

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
        update: a gr.File built here would copy the file into Gradio's cache at once),
        whose label says how many cards went out."""
        with _user_errors():
            out, written = self.study.export(fmt)  # type: ignore[arg-type]
        # Said in the box's label: a notice would cover the statistics beside it.
        label = f"Exportadas {written} tarjetas: {out.name}"
        return gr.update(value=str(out), visible=True, label=label)

    def study_import(self, package: str | None) -> str:
        """Merge the reviews of an uploaded Anki package into the deck; one line says
        what came in. Gradio's copy of the file is deleted either way."""
        if not package:
            return ""
        try:
            with _user_errors():
                report = self.study.import_anki(package)
        finally:
            discard_upload(package)
        return report.summary()

    # -- card browser ------------------------------------------------------------------
    # The browser's outputs: the action's line, the table, then card_editor's.

    def cards_find(self, query: str | None) -> dict:
        """The cards ``query`` matches (text, nota:…, #etiqueta), as the table's rows; its
        label says how many."""
        with _user_errors():
            rows = self.study.find(query or "")
        count = f"{len(rows)} tarjeta" + ("" if len(rows) == 1 else "s")
        return gr.update(value=browse_rows(rows), headers=BROWSE_HEADERS, label=count)

    def cards_pick(self, evt: gr.SelectData) -> tuple:
        """A clicked row's card in the editor (the row's last cell is its id)."""
        row = evt.row_value or []
        return self._card_editor(str(row[-1]) if row else None)

    def _card_editor(self, card_id: str | None) -> tuple:
        if not card_id:
            return card_editor(None)
        with _user_errors():
            return card_editor(self.study.card(card_id))

    def _cards_done(self, query: str | None, card_id: str | None, line: str) -> tuple:
        return (line, self.cards_find(query), *self._card_editor(card_id))

    def cards_save(self, card_id: str | None, front: str, back: str, query: str | None):
        with _user_errors():
            row = self.study.edit_card(_picked(card_id), front, back)
        return self._cards_done(query, row.card.id, "Guardada: el mismo id y sus repasos.")

    def cards_suspend(self, card_id: str | None, query: str | None) -> tuple:
        with _user_errors():
            row = self.study.suspend_card(_picked(card_id))
        return self._cards_done(query, row.card.id, "Suspendida: no saldrá hasta reanudarla.")

    def cards_resume(self, card_id: str | None, query: str | None) -> tuple:
        with _user_errors():
            row = self.study.resume_card(_picked(card_id))
        return self._cards_done(query, row.card.id, "Reanudada: vuelve a salir cuando toque.")

    def cards_confirm_delete(self, card_id: str | None) -> tuple:
        """(the confirmation box, its question) before a card is deleted."""
        with _user_errors():
            row = self.study.card(_picked(card_id))
        question = f"¿Borrar la tarjeta «{html.escape(row.card.front)}»? Sus repasos se "
        question += "guardan en el historial, pero no volverá a salir."
        return gr.Column(visible=True), question

    def cards_delete(self, card_id: str | None, query: str | None) -> tuple:
        with _user_errors():
            self.study.delete_card(_picked(card_id))
        return self._cards_done(query, None, "Borrada.")

    def cards_deleted(self) -> dict:
        """The deleted cards, the last deleted first, for "Recuperar"'s list (its label
        says how many)."""
        with _user_errors():
            rows = self.study.find(deleted=True)
        label = f"Tarjetas borradas: {len(rows)}" if rows else "No hay tarjetas borradas"
        return gr.update(choices=deleted_choices(rows), value=None, label=label)

    def cards_undelete(self, card_id: str | None, query: str | None) -> tuple:
        """A deleted card back (same id and reviews), opened in the editor; then the list
        of deleted cards again."""
        if not card_id:
            raise _error("Elige una tarjeta borrada de la lista")
        with _user_errors():
            row = self.study.undelete_card(card_id)
        line = "Recuperada: el mismo id y sus repasos; " + (
            "sigue suspendida." if row.suspended else "vuelve a salir cuando toque."
        )
        return (*self._cards_done(query, row.card.id, line), self.cards_deleted())

    def cards_notes(self) -> dict:
        """The notes a card can be added to (the index's), for the form's dropdown."""
        return gr.update(choices=list(self.study.sections()))

    def cards_sections(self, source: str | None) -> dict:
        """The sections of the note chosen in the form, the first one picked."""
        labels = [section.label for section in self.study.sections().get(source or "", [])]
        return gr.update(choices=labels, value=labels[0] if labels else None)

    def cards_add(
        self,
        source: str | None,
        section: str | None,
        front: str,
        back: str,
        query: str | None,
    ) -> tuple:
        """Add a card by hand; the form's text is cleared and the card opens in the
        editor."""
        with _user_errors():
            row = self.study.add_card(source, section, front, back)
        line = f"Añadida a {row.card.source} como tarjeta nueva."
        return (*self._cards_done(query, row.card.id, line), "", "")

    # -- map ---------------------------------------------------------------------------

    @cached_property
    def map(self) -> MapDesk:
        return MapDesk()

    def map_view(self) -> str:
        """The notebook's map (notes -> sections -> key terms), drawn by static/map.js."""
        return self.map.view(self.index.chunks)

    def map_reset(self) -> tuple:
        """Another notebook: (its map, no node's panel, no question button, no question)."""
        return self.map_view(), "", gr.Button(visible=False), ""

    def map_open(self, node_id: str | None) -> tuple:
        """A node clicked in the map (map.js writes its id): (its panel, the question
        button, the question)."""
        if not node_id:
            return gr.skip(), gr.skip(), gr.skip()
        with _user_errors():
            shown = self.map.open(node_id, self.index.chunks, self.notes_dir, self.study.deck_path)
        ask = gr.Button(f"Preguntar en el chat: {shown.question}", visible=bool(shown.question))
        return shown.html, ask, shown.question

    @staticmethod
    def map_ask(question: str) -> str:
        """The node's question into the chat's box (map.js opens the Chat tab)."""
        return question

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


SAVED_KEY = "cuadernos"  # the browser's copy: {"cuadernos": {notebook: conversation}}


def _saved_chats(saved) -> dict:
    chats = saved.get(SAVED_KEY) if isinstance(saved, dict) else None
    return dict(chats) if isinstance(chats, dict) else {}


def _renamed(saved, old: str, new: str) -> dict:
    """The browser's copy with the conversation of ``old`` kept under ``new``."""
    chats = _saved_chats(saved)
    if old in chats:
        chats[new] = chats.pop(old)
    return {SAVED_KEY: chats}


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
    4 rating buttons, undo): the front alone (with its options, in choice mode), then the
    back with its passage and the four ratings, each saying the interval it gives ("Bien ·
    3 d"); the rating proposed for a written answer or a pick is the highlighted button.
    "Deshacer" shows once the session has a rating to take back. The answer box is emptied
    only for a new card: a redraw (another tab, the mode) keeps what is being typed."""
    card, written = view.row is not None, mode == STUDY_MODES[1]
    choosing = card and mode == STUDY_MODES[2] and view.choice is not None
    proposal = view.proposal
    check = card and (written or (choosing and not view.revealed))
    reveal = card and not view.revealed and not choosing
    answer = {"value": view.answer} if new_card else {}
    intervals = view.intervals or {}
    front, options = front_html(view), {}
    if choosing:  # the options drawn as Markdown under the front; the radio names them
        front += options_html(view.choice, view.picked)
        keys = option_keys(len(view.choice.options))  # an update's value is the choice,
        picked = keys[view.picked] if view.picked is not None else None  # not its index
        options = {"choices": keys, "value": picked}
    return (
        session,
        front,
        back_html(view),
        gr.update(visible=card and written, **answer),
        gr.update(visible=choosing, interactive=not view.revealed, **options),
        gr.Row(visible=check or reveal),  # an empty row would still take its height
        gr.Button(visible=check),
        gr.Button(visible=reveal),
        gr.Row(visible=card and view.revealed),
        *(
            gr.Button(
                rating_button(name, intervals.get(name)),
                variant="primary" if name == proposal else "secondary",
            )
            for name in RATING_KEYS.values()
        ),
        gr.Button(visible=bool(session.rated)),
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
        gr.Button(visible=False),
    )


def card_editor(row: DeckCard | None) -> tuple:
    """(picked id, editor, its line, front, back, Suspender, Reanudar, delete question):
    the card's whole text to edit, the button that fits its status; hidden for None."""
    if row is None:
        return (None, gr.Column(visible=False), "", "", "", gr.skip(), gr.skip(), _closed())
    suspended = row.suspended is not None
    return (
        row.card.id,
        gr.Column(visible=True),
        browsed_card_markdown(row),
        row.card.front,
        row.card.back,
        gr.Button(visible=not suspended),
        gr.Button(visible=suspended),
        _closed(),
    )


def _closed() -> gr.Column:
    return gr.Column(visible=False)


def _picked(card_id: str | None) -> str:
    if not card_id:
        raise _error("Elige una tarjeta de la tabla")
    return card_id


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


def note_files(accepts: str = ".md, .txt o .pdf", **options) -> gr.File:
    """A gr.File without Gradio 6.31's leak: its preprocess opens an empty
    NamedTemporaryFile(delete=False) in the upload folder for every file and drops it
    (components/file.py, _process_single_file), so each upload left a file behind. The
    method is replaced on this one instance: a subclass would make Gradio write a .pyi
    file beside app.py. A file of the wrong type is deleted and refused as a user error
    that names what it ``accepts``."""
    files = gr.File(**options)

    def process_single_file(upload) -> NamedString:
        if files.file_types and not is_valid_file(upload.path, files.file_types):
            discard_upload(upload.path)
            raise _error(f"{Path(upload.path).name}: tipo de archivo no admitido; sube {accepts}")
        return NamedString(upload.path)

    files._process_single_file = process_single_file
    return files


def _warn(message: str) -> None:
    gr.Warning(html.escape(message))


def _say(message: str) -> None:
    """The desks' warnings: _warn looked up when one comes (tests replace it)."""
    _warn(message)
