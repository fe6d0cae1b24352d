"""The Estudiar tab's Gradio components wired to the study callbacks
(``callbacks.StudyApp``, over ``study_desk.StudyDesk``): the card, its ratings and undo,
statistics and settings, exports and Anki import, and the "Tarjetas" card browser."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from assistant.study.browse import BROWSE_HEADERS
from assistant.study.schedule import RATING_KEYS, ScheduleConfig
from assistant.web.callbacks import STUDY_MODES, StudyApp, note_files
from assistant.web.card_html import rating_label
from assistant.web.study_desk import StudySession


@dataclass
class StudyTab:
    """The study tab's components that other tabs' events refresh."""

    app: StudyApp
    session: gr.State
    mode: gr.Radio
    card: list  # study_view's outputs
    stats: list  # study_stats' outputs
    deck_line: gr.Markdown  # which deck file: another notebook, another deck
    settings: list  # study_settings' outputs: new cards a day, desired retention

    def redraw_on(self, trigger) -> None:
        """Redraw the tab (its card, progress, statistics and the deck's scheduling
        settings) on ``trigger`` (an event listener such as ``demo.load``): a deck changed
        elsewhere shows as it is now."""
        hidden = {"api_visibility": "private"}
        trigger(self.app.study_show, [self.session, self.mode], self.card, **hidden).then(
            self.app.study_stats, self.session, self.stats, **hidden
        ).then(self.app.study_settings, self.settings, self.settings, **hidden)

    def refresh_after(self, event) -> None:
        """Chain the same redraw to the end of ``event`` (a Notes tab chain)."""
        self.redraw_on(event.then)


def study_tab_ui(app: StudyApp) -> StudyTab:
    """Due cards one at a time (front; "Mostrar respuesta": back and passage; four
    ratings, each with the interval it gives, keys 1-4 in app.js; "Deshacer" takes the
    last one back), or a written answer first with a proposed rating; progress,
    statistics, the deck's daily new cards and desired retention, and exports beside it."""
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
                    name: gr.Button(rating_label(name), elem_id=f"study-rate-{key}")
                    for key, name in RATING_KEYS.items()
                }
            undo = gr.Button(
                "↶ Deshacer la última valoración", size="sm", visible=False, elem_id="study-undo"
            )
            gr.Markdown(
                "<small>Atajos de teclado: 1 Otra vez · 2 Difícil · 3 Bien · 4 Fácil "
                "(con la respuesta a la vista, fuera del cuadro de texto).</small>"
            )
        with gr.Column(scale=2):
            summary = gr.Markdown(elem_id="study-stats")
            with gr.Row():  # stored in the deck: the CLI's `study` uses them too
                new_per_day = gr.Number(
                    ScheduleConfig.new_per_day,
                    label="Tarjetas nuevas al día",
                    precision=0,
                    minimum=0,
                    scale=1,
                    elem_id="study-new-per-day",
                )
                retention_target = gr.Slider(
                    0.7,
                    0.97,
                    value=ScheduleConfig.desired_retention,
                    step=0.01,
                    label="Retención deseada",
                    info="FSRS: más alta, más repasos y menos olvidos",
                    scale=2,
                    elem_id="study-desired-retention",
                )
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
            anki_package = note_files(
                ".apkg o .colpkg",
                file_types=[".apkg", ".colpkg"],
                label="Importar de Anki (.apkg/.colpkg): sus repasos se suman al mazo",
                height=110,
                elem_id="study-import",
            )
            imported = gr.Markdown(elem_id="study-imported")
            deck_line = gr.Markdown(app.deck_line())

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
            undo,
        ],
        stats=[progress, summary, plot, retention],
        deck_line=deck_line,
        settings=[new_per_day, retention_target],
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
    undo.click(app.study_undo, card_in, tab.card, **hidden).then(
        app.study_stats, session, tab.stats, **hidden
    )
    gr.on(  # a new limit may let in more cards now: the card and counts are redrawn
        [new_per_day.submit, new_per_day.blur, retention_target.release],
        app.study_configure,
        tab.settings,
        tab.settings,
        **hidden,
    ).then(app.study_show, card_in, tab.card, **hidden).then(
        app.study_stats, session, tab.stats, **hidden
    )
    mode.change(app.study_show, card_in, tab.card, **hidden)
    to_anki.click(partial(app.study_export, "apkg"), None, exported, **hidden)
    to_csv.click(partial(app.study_export, "csv"), None, exported, **hidden)
    tab.refresh_after(  # Gradio's copy of the package is gone: the box is emptied
        anki_package.upload(app.study_import, anki_package, imported, **hidden).then(
            lambda: None, None, anki_package, **hidden
        )
    )
    card_browser_ui(app, tab)
    return tab


def card_browser_ui(app: StudyApp, tab: StudyTab) -> None:
    """The "Tarjetas" accordion under the card: find cards by text, note (nota:…) or tag
    (#…); a clicked row's card to edit (same id and reviews), suspend, resume or delete
    (asked first); a deleted card back ("Recuperar"); a card added by hand to a section of
    a note. Each change redraws the study card and its counts: a card suspended while on
    screen goes."""
    hidden = {"api_visibility": "private"}
    with gr.Accordion("Tarjetas: buscar, editar, añadir", open=False) as accordion:
        with gr.Row(equal_height=True):
            query = gr.Textbox(
                show_label=False,
                placeholder="Busca por texto, nota:nombre o #etiqueta (vacío: todas)",
                container=False,
                scale=4,
                elem_id="cards-query",
            )
            search = gr.Button("Buscar", scale=1, elem_id="cards-search")
        line = gr.Markdown(elem_id="cards-line")
        table = gr.Dataframe(
            headers=BROWSE_HEADERS,
            interactive=False,
            wrap=True,
            max_height=360,
            column_widths=["33%", "31%", "14%", "11%", "11%"],
            label="Tarjetas",
            elem_id="cards-table",
        )
        picked = gr.State(None)  # the id of the card in the editor
        with gr.Column(visible=False, elem_id="cards-editor") as editor:
            about = gr.Markdown(elem_id="cards-about")
            front = gr.Textbox(label="Frente", lines=2, elem_id="cards-front")
            back = gr.Textbox(label="Reverso", lines=3, elem_id="cards-back")
            with gr.Row():
                save = gr.Button("Guardar", variant="primary", elem_id="cards-save")
                suspend = gr.Button("Suspender", elem_id="cards-suspend")
                resume = gr.Button("Reanudar", visible=False, elem_id="cards-resume")
                delete = gr.Button("Borrar", variant="stop", elem_id="cards-delete")
            with gr.Column(visible=False) as confirm_box:
                question = gr.Markdown(elem_id="cards-confirm-text")
                with gr.Row():
                    confirm = gr.Button(
                        "Sí, borrar la tarjeta", variant="stop", elem_id="cards-confirm-delete"
                    )
                    cancel = gr.Button("Cancelar", elem_id="cards-cancel-delete")
        gr.Markdown("**Recuperar una tarjeta borrada**, con su id y sus repasos")
        with gr.Row(equal_height=True):
            deleted = gr.Dropdown([], label="Tarjetas borradas", scale=4, elem_id="cards-deleted")
            undelete = gr.Button("Recuperar", scale=1, elem_id="cards-undelete")
        gr.Markdown("**Añadir una tarjeta** a una sección de tus notas")
        with gr.Row():
            note = gr.Dropdown([], label="Nota", elem_id="cards-new-note")
            section = gr.Dropdown([], label="Sección", elem_id="cards-new-section")
        new_front = gr.Textbox(label="Frente (la pregunta)", elem_id="cards-new-front")
        new_back = gr.Textbox(label="Reverso (la respuesta)", lines=2, elem_id="cards-new-back")
        add = gr.Button("Añadir tarjeta", elem_id="cards-add")
    editing = [picked, editor, about, front, back, suspend, resume, confirm_box]
    done = [line, table, *editing]  # what every change redraws
    accordion.expand(app.cards_find, query, table, **hidden).then(
        app.cards_notes, None, note, **hidden
    ).then(app.cards_deleted, None, deleted, **hidden)
    gr.on([search.click, query.submit], app.cards_find, query, table, **hidden)
    table.select(app.cards_pick, None, editing, **hidden)
    delete.click(app.cards_confirm_delete, picked, [confirm_box, question], **hidden)
    cancel.click(lambda: gr.Column(visible=False), None, confirm_box, **hidden)
    note.change(app.cards_sections, note, section, **hidden)
    for change in (
        save.click(app.cards_save, [picked, front, back, query], done, **hidden),
        suspend.click(app.cards_suspend, [picked, query], done, **hidden),
        resume.click(app.cards_resume, [picked, query], done, **hidden),
        confirm.click(app.cards_delete, [picked, query], done, **hidden).then(
            app.cards_deleted, None, deleted, **hidden
        ),
        undelete.click(app.cards_undelete, [deleted, query], [*done, deleted], **hidden),
        add.click(
            app.cards_add,
            [note, section, new_front, new_back, query],
            [*done, new_front, new_back],
            **hidden,
        ),
    ):
        tab.refresh_after(change)
