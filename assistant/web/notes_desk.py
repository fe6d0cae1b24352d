"""The notes tab's logic without Gradio: the notes folder and its index, the note
preview, uploads, deletes to the trash, restores and re-indexes.

Every change re-indexes in the same call, queued behind any re-index in progress (another
browser's upload), and hands the new index to ``on_index`` (the chat swaps it in, the study
deck rebuilds its cards), whose line joins the summary. A failed re-index leaves the
previous index answering. ``progress(fraction, desc=...)`` is Gradio's progress bar in the
app and a no-op elsewhere; ``warn`` gets one line per problem that does not stop the call.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from pathlib import Path

from assistant.web.experiment_progress import no_progress
from assistant.web.markdown_html import is_markdown, note_names, passage_html, properties_html
from assistant.web.note_images import NoteImages
from assistant.web.notes_admin import (
    ReindexQueue,
    delete_note,
    list_notes,
    list_trash,
    restore_note,
    sanitize_filename,
    save_note,
)
from assistant.web.uploads import discard_upload
from corpus.errors import AssistantError
from corpus.files import resolves_inside
from corpus.loader import SkipNote, decode_text
from corpus.markdown import FrontMatter, read_front_matter
from index.config import IndexConfig
from index.store import BuildReport, NotesIndex, open_index

PREVIEW_CHARS = 200_000


class NotesDesk:
    def __init__(
        self,
        notes_dir: Path,
        index_dir: Path,
        on_index: Callable[[NotesIndex], str] = lambda index: "",
        warn: Callable[[str], None] = lambda message: None,
        verbose: bool = False,
        index_config: IndexConfig | None = None,
    ) -> None:
        """Index the folder now (only changed notes are embedded); ``index_config``: what
        a new index is built with (None: the previous index's, else the defaults)."""
        self.notes_dir, self.index_dir = Path(notes_dir), Path(index_dir)
        self.on_index, self.warn = on_index, warn
        self._reindexes: ReindexQueue[tuple[BuildReport, str]] = ReindexQueue()
        self.index, self.report = open_index(
            self.notes_dir, self.index_dir, index_config=index_config, progress=verbose
        )

    # -- reading -----------------------------------------------------------------------

    def rows(self) -> list[list]:
        """(note, chunks or "sin indexar", size) per note of the folder."""
        rows = []
        for note in list_notes(self.notes_dir, self.index.manifest):
            chunks = note.chunks if note.chunks is not None else "sin indexar"
            rows.append([note.source, chunks, f"{note.size_bytes / 1024:.1f} KB"])
        return rows

    def note_text(self, source: str | None) -> str:
        """A note as plain text for the preview (a PDF: the text the index extracted)."""
        if not source:
            return ""
        if source.lower().endswith(".pdf"):
            return "\n\n".join(c.text for c in self.index.chunks if c.source == source)
        path = self.notes_dir / source  # the loader's rule: links out of the folder refused
        if not resolves_inside(path, self.notes_dir) or not path.is_file():
            raise AssistantError(f"No hay ninguna nota {source!r}")
        data = path.read_bytes()
        try:
            return decode_text(data)[:PREVIEW_CHARS]  # the loader's reading: UTF-16 too
        except SkipNote:
            return data.decode("utf-8", errors="replace")[:PREVIEW_CHARS]

    def note_preview(self, source: str | None) -> str:
        """The note for the preview: a Markdown note rendered (raw HTML off), any other
        as its text."""
        if not source:
            return ""
        text = self.note_text(source)
        links = note_names(row[0] for row in self.rows())
        front = read_front_matter(text) if is_markdown(source) else FrontMatter()
        images = NoteImages(self.notes_dir, source)
        passage = passage_html(text[front.end :], source, notes=links, images=images)
        body = properties_html(front) + passage
        return f'<div class="note-preview" data-note="{html.escape(source)}">{body}</div>'

    def linked_note(self, name: str | None) -> str | None:
        """The note a [[link]] of the preview opens (its path in the folder), or None."""
        if not name:
            return None
        sources = [row[0] for row in self.rows()]
        return name if name in sources else note_names(sources).get(name.casefold())

    def trash(self) -> list[tuple[str, str]]:
        """(label, name) of each deleted note or replaced version, newest first; a trash
        that cannot be read is a warning and empty."""
        try:
            return [(note.label, note.name) for note in list_trash(self.notes_dir)]
        except AssistantError as err:
            self.warn(str(err))
            return []

    # -- changing ----------------------------------------------------------------------

    def upload(self, files: list[str] | None, replace: bool, progress=no_progress) -> str:
        """Save the uploaded notes and re-index. Each problem is one message: the error,
        when no file could be added; a warning per file left out, when others were. The
        uploaded copies (Gradio's) are deleted, saved or refused."""
        if not files:
            raise AssistantError("Elige uno o más archivos .md, .txt o .pdf")
        saved, replaced, problems = [], [], []
        try:
            for file in files:
                path = Path(file)
                try:
                    existed = (self.notes_dir / sanitize_filename(path.name)).is_file()
                    name = save_note(self.notes_dir, path.name, _read_upload(path), replace).name
                except AssistantError as err:
                    problems.append(str(err))
                    continue
                (replaced if existed else saved).append(name)
        finally:
            for file in files:
                discard_upload(file)
        if not saved and not replaced:
            raise AssistantError(
                problems[0]
                if len(problems) == 1
                else "No se añadió ninguna nota: " + "; ".join(problems)
            )
        for problem in problems:
            self.warn(problem)
        parts = [f"Añadidas: {', '.join(saved)}."] if saved else []
        if replaced:
            parts.append(
                f"Reemplazadas: {', '.join(replaced)} (la versión anterior queda en la papelera)."
            )
        return self._reindexed(" ".join(parts), progress)

    @staticmethod
    def delete_question(source: str | None) -> str:
        """The confirmation a delete asks first (HTML)."""
        if not source:
            raise AssistantError("Elige la nota que quieres borrar")
        return (
            f"¿Mover <strong>{html.escape(source)}</strong> a la papelera? Se puede recuperar "
            "después con «Recuperar de la papelera»."
        )

    def delete(self, source: str | None, progress=no_progress) -> tuple[str, str]:
        """(status, the note's name in the trash); the index is rebuilt in this call, so a
        deleted note is never found again."""
        if not source:
            raise AssistantError("Elige la nota que quieres borrar")
        trash = delete_note(self.notes_dir, source)
        status = self._reindexed(
            f"{source} movida a la papelera. Para deshacerlo, pulsa «Recuperar de la papelera».",
            progress,
        )
        return status, trash.name

    def restore(self, name: str | None, progress=no_progress) -> str:
        """The note goes back where it was and the index is rebuilt, as after an upload."""
        if not name:
            raise AssistantError("Elige en la papelera la nota que quieres recuperar")
        source, displaced = restore_note(self.notes_dir, name)
        status = f"{source} recuperada de la papelera"
        if displaced is not None:
            status += " (la versión que había ocupa ahora su lugar en la papelera)"
        return self._reindexed(status + ".", progress)

    def reindex(self, progress=no_progress) -> str:
        """Re-index and rebuild the cards, queued behind any re-index in progress: the
        result reflects the folder as it is now."""
        progress(0, desc="Leyendo las notas…")
        report, cards = self._reindexes.run(partial(self._rebuild, progress))
        for warning in report.warnings:
            self.warn(warning)
        return f"{report.summary()}\n{cards}".strip()

    def _reindexed(self, done: str, progress) -> str:
        """Re-index after an upload, a delete or a restore: the line keeps what was done
        ("… movida a la papelera …") before the index's summary, also when the re-index
        fails (the change is made; the previous index still answers)."""
        try:
            return f"{done}\n{self.reindex(progress)}".strip()
        except AssistantError as err:
            raise AssistantError(f"{done} Pero el índice no se actualizó: {err}") from None

    def _rebuild(self, progress) -> tuple[BuildReport, str]:
        """One re-index (under self._reindexes): the index swapped in, ``on_index`` told."""
        index, report = open_index(self.notes_dir, self.index_dir, progress=True)
        self.index, self.report = index, report
        progress(0.95, desc="Actualizando las tarjetas de estudio…")
        return report, self.on_index(index)


def _read_upload(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:  # gone from Gradio's folder (a retry of a discarded upload)
        raise AssistantError(f"No se pudo leer {path.name}: súbelo de nuevo") from err
