"""The study assistant in the browser: the Gradio page, its components wired to the
callbacks of assistant/web/callbacks.py, which call each tab's desk (assistant/web/).

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
as Markdown; chat_desk.py, chat_state.py), Study (due cards, written answers graded by the
support checker, statistics, Anki/CSV export and Anki import, a card browser to find, edit,
suspend, delete and add cards; study_desk.py, study/browse.py), Notes (upload, delete with
confirmation, restore from the trash, re-index, each rebuilding the cards; notes_desk.py),
Experiments (experiments_desk.py over eval/experiment/).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr
from starlette.middleware import Middleware

from assistant.generators.adapters import SHIPPED_ADAPTERS
from assistant.generators.openai_backend import configured_models
from assistant.settings import MODELS, ChatSettings
from assistant.web.answer_html import (
    sources_panel_html,
)
from assistant.web.callbacks import StudyApp, log, note_files
from assistant.web.chat_state import (
    ChatSession,
)
from assistant.web.experiments_desk import QUESTIONS as EXPERIMENT_QUESTIONS
from assistant.web.login import LoginThrottle, ThrottledLogin, resolve_auth
from assistant.web.network import check_port_free, is_loopback
from assistant.web.notebook_bar import notebook_bar
from assistant.web.study_tab import study_tab_ui
from assistant.web.uploads import upload_dir_for, use_upload_dir
from corpus.errors import AssistantError
from index.store import check_index_dir

ROOT = Path(__file__).resolve().parent
DEFAULT_NOTES = ROOT / "corpus" / "notes"
DEFAULT_INDEX = ROOT / ".cache" / "index"
ADAPTERS = SHIPPED_ADAPTERS  # model -> its bundled LoRA adapter, on by default as in the CLI
STRATEGIES = ("zero-shot", "few-shot:2", "cot:1", "extractive")
EXPERIMENT_STRATEGIES = ("zero-shot", "few-shot:1", "few-shot:3", "cot:1")
# eval/experiment/grid.py names a model with its bundled adapter "<model>+lora".
EXPERIMENT_MODELS = (*MODELS, *(f"{name}+lora" for name in ADAPTERS))
# The chat's default model as the grid names it: what the tab preselects.
CHAT_EXPERIMENT_MODEL = ChatSettings.model + ("+lora" if ChatSettings.adapter else "")
# The report's plots section: its image links are relative to the report's folder.
MAX_UPLOAD = "50mb"  # ChunkConfig.max_pdf_bytes; text notes are capped at 5 MB by the loader
CHAT_STORAGE_KEY = "asistente-de-estudio-chat"  # the browser's localStorage entry


# -- UI ----------------------------------------------------------------------------------


STATIC = ROOT / "assistant" / "web" / "static"
CSS = (STATIC / "app.css").read_text(encoding="utf-8")
# The vendored libraries first (static/katex: formulas; static/vis: the notes' map; each
# folder's README says where it comes from), then the app's own scripts.
HEAD = "".join(
    f"<script>\n{(STATIC / name).read_text(encoding='utf-8')}</script>"
    for name in ("katex/katex.min.js", "vis/vis-network.min.js", "app.js", "map.js")
)

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
        book = notebook_bar()
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
                        # A tag chosen here is added to the question as #tag: the
                        # assistant reads #tags in a question as a filter.
                        tags = gr.Dropdown(
                            [],
                            multiselect=True,
                            label="Solo notas con las etiquetas",
                            elem_id="chat-tags",
                            scale=3,
                        )
                        everywhere = gr.Checkbox(
                            False,
                            label="Buscar en todos los cuadernos",
                            elem_id="chat-everywhere",
                            scale=2,
                        )
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
                        label="Adaptador LoRA del proyecto (lectura de pasajes en español)",
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
                    everywhere,
                    tags,
                ],
                [question, chatbot, session, sources],
                api_name="ask",
                concurrency_limit=1,
                concurrency_id="generation",
            ).then(app.saved_chat, [session, saved_chat], saved_chat, **hidden).then(
                app.models_view, None, models_out, show_progress="hidden", **hidden
            )
            new_chat.click(app.new_conversation, None, chat_out, api_name="new_conversation").then(
                app.saved_chat, [session, saved_chat], saved_chat, **hidden
            )
            chatbot.clear(app.new_conversation, None, chat_out, **hidden).then(
                app.saved_chat, [session, saved_chat], saved_chat, **hidden
            )
            export_chat.click(app.export_chat, session, exported_chat, **hidden)
            demo.load(app.restore_chat, saved_chat, chat_out, **hidden)
            demo.load(app.tags_view, None, tags, **hidden)
            tags.focus(app.tags_view, tags, tags, **hidden)  # a note tagged since
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
            folder_line = gr.Markdown(f"Carpeta de notas: `{app.notes_dir}`")
            notes_table = gr.Dataframe(
                app.notes.rows(),
                headers=["Nota", "Fragmentos", "Tamaño"],
                interactive=False,
                label="Tus notas",
                elem_id="notes-table",
            )
            notes_status = gr.Textbox(
                label="Resultado",
                placeholder="Aquí verás qué pasó al añadir, borrar, recuperar o reindexar notas.",
                interactive=False,
                lines=3,
                elem_id="notes-status",
            )
            with gr.Row():
                with gr.Column():
                    files = note_files(
                        elem_id="upload-notes",
                        file_count="multiple",
                        file_types=[".md", ".txt", ".pdf"],
                        label="Añadir notas: elígelas y se añaden al momento (.md, .txt, .pdf; "
                        "texto hasta 5 MB, PDF hasta 50 MB)",
                    )
                    replace = gr.Checkbox(False, label="Reemplazar las que ya existan")
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
            to_preview = gr.Dropdown([], label="Ver una nota", elem_id="to-preview")
            gr.Markdown("Contenido de la nota:")
            preview = gr.HTML(elem_id="note-preview")
            # app.js writes here the note of a [[link]] clicked in the preview.
            linked = gr.Textbox(
                elem_id="wikilink-target",
                elem_classes="offscreen",
                show_label=False,
                container=False,
            )
            view = [notes_table, to_delete, to_preview]
            # app.reindex rebuilds the cards too; the study tab then shows the new deck.
            study.refresh_after(
                # Gradio's copies are deleted either way: the picker must not offer them.
                files.upload(app.upload, [files, replace], notes_status)
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
            linked.change(app.open_linked, linked, to_preview, **hidden)
            demo.load(app.notes_view, None, view, **hidden)
            demo.load(app.trash_view, None, trashed, **hidden)
            # Whatever notebook the app is on now (another browser may have switched).
            drawn = [book.selector, folder_line, study.deck_line]
            demo.load(app.notebook_view, None, drawn, **hidden)

        with gr.Tab("Mapa") as map_tab:
            gr.Markdown(
                "Tus notas como mapa: cada nota, sus secciones y los términos clave que "
                "comparten. Pulsa una sección para leerla, ver sus tarjetas y preguntar."
            )
            with gr.Row():
                with gr.Column(scale=3):
                    notes_map = gr.HTML(elem_id="notes-map", js_on_load=None)
                with gr.Column(scale=2):
                    map_detail = gr.HTML(elem_id="map-detail", js_on_load=None)
                    map_ask = gr.Button(visible=False, variant="primary", elem_id="map-ask")
            map_question = gr.State("")
            # static/map.js writes here the id of the node clicked in the map.
            map_target = gr.Textbox(
                elem_id="map-target", elem_classes="offscreen", show_label=False, container=False
            )
            map_parts = [notes_map, map_detail, map_ask, map_question]
            map_tab.select(app.map_view, None, notes_map, **hidden)
            map_target.change(app.map_open, map_target, map_parts[1:], **hidden)
            map_ask.click(app.map_ask, map_question, question, **hidden)

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
                    list(EXPERIMENT_MODELS), value=[CHAT_EXPERIMENT_MODEL], label="Modelos"
                )
                exp_limit = gr.Number(
                    10, minimum=1, maximum=500, precision=0, label="Máximo de preguntas"
                )
            with gr.Row():
                run = gr.Button("Ejecutar", variant="primary")
                cancel_run = gr.Button("Cancelar", variant="stop", elem_id="cancel-experiment")
            exp_status = gr.Markdown()
            exp_table = gr.Dataframe(
                label="Resultados", interactive=False, wrap=True, elem_id="exp-table"
            )
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

        # Another notebook: every tab redrawn from it, and its own conversation restored
        # from this browser's copy. .then, not .success: a failed switch redraws the
        # selector back to the notebook still in use.
        def redraw_after(event) -> None:
            redrawn = (
                event.then(app.notebook_view, None, drawn, **hidden)
                .then(app.notes_view, None, view, **hidden)
                .then(app.trash_view, None, trashed, **hidden)
                .then(lambda: "", None, preview, **hidden)
                .then(app.restore_chat, saved_chat, chat_out, **hidden)
                .then(app.tags_view, None, tags, **hidden)
                .then(app.map_reset, None, map_parts, **hidden)
            )
            study.refresh_after(redrawn)

        redraw_after(book.selector.input(app.switch_notebook, book.selector, book.status))
        redraw_after(
            book.create.click(
                app.create_notebook, [book.folder, book.name], [book.status, book.folder, book.name]
            )
        )
        redraw_after(book.remove.click(app.remove_notebook, None, book.status))
        book.rename.click(
            app.rename_notebook,
            [book.new_name, saved_chat],
            [book.status, book.new_name, saved_chat],
            **hidden,
        ).then(app.notebook_view, None, drawn, **hidden)
    return demo


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
        "--api", action="store_true", help="enlace a la página de la API al pie de la app"
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
        launch(app, args.host, args.port, auth, api=args.api)
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
    api: bool = False,
) -> gr.Blocks:
    """Build the UI and serve it; ``block=False`` returns once it listens (the browser
    tests), the caller then closes it; ``api``: the footer's link to the API page (a
    student never needs it). Uploads go to the app's own folder for ``port``,
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
        footer_links=["api"] if api else [],
        run_history=False,
        show_error=False,
        prevent_thread_lock=not block,
        quiet=not block,
    )
    return demo


if __name__ == "__main__":
    log_to_stderr()  # here, not in main(): tests call main() with stderr captured
    sys.exit(main())
