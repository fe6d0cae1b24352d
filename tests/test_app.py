"""The app's callbacks with a fake assistant (HashEmbedder, ScriptedGenerator, OverlapChecker):
streaming, citations and their source cards, per-session history, notes admin, experiments."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gradio as gr
import pytest

import app as study_app
from assistant.answer import Assistant, AssistantConfig
from assistant.generators.hf import DEFAULT_PRECISION
from assistant.grounding import evidence_spans
from assistant.prompts import ABSTAIN
from assistant.web import experiments_desk
from assistant.web.answer_html import sources_panel_html
from assistant.web.chat_desk import control_values
from assistant.web.evidence import highlight_html
from assistant.web.login import parse_auth
from assistant.web.notes_admin import (
    TRASH,
    NoteExistsError,
    delete_note,
    list_notes,
    sanitize_filename,
    save_note,
)
from corpus.errors import NotesError
from corpus.markdown import prose_spans
from index.errors import ModelNotInstalledError
from index.store import build_index
from tests.fakes import (
    OverlapChecker,
    OverlapSelector,
    ScriptedGenerator,
    open_policy,
    scripted_worker,
    writes_every_form,
)

ANSWER = (
    "El Teacher Forcing utiliza la palabra correcta de la secuencia como entrada "
    "siguiente [1]. Los pingüinos vuelan hasta Marte cada martes [1]."
)
QUESTION = "¿Qué es Teacher Forcing?"
SETTINGS = ("gemma-270m", False, "zero-shot", 3, 160, 0.0)


def fake_factory(script=ANSWER, made=None):
    def make(index, settings):
        if made is not None:
            made.append(settings)
        config = AssistantConfig(
            evidence=writes_every_form(),
            strategy=settings.strategy,
            passages=settings.passages,
            abstention=open_policy(),
        )
        return Assistant(
            index, ScriptedGenerator(script), OverlapChecker(), config, selector=OverlapSelector()
        )

    return make


@pytest.fixture
def make_app(notes_copy, tmp_path, fake_embedder, fake_config):
    index_dir = tmp_path / "index"
    build_index(notes_copy, index_dir, index_config=fake_config)  # later builds keep fake-hash

    def make(script=ANSWER, experiments=None, made=None):
        return study_app.StudyApp(
            notes_copy,
            index_dir,
            fake_factory(script, made),
            experiments,
            experiments_dir=tmp_path / "experiments",
        )

    return make


def ask(app, question, session, settings=SETTINGS):
    """Run one chat turn; returns every yielded (box, chat, session, panel)."""
    return list(app.ask(question, session, *settings))


def text_of(message_html: str) -> str:
    return re.sub(r"<[^>]+>", "", message_html)


# -- chat --------------------------------------------------------------------------------


def test_the_answer_streams_then_shows_citations_that_open_their_passage(make_app):
    app = make_app()
    session = study_app.ChatSession()
    updates = ask(app, QUESTION, session)
    streamed = [chat[-1]["content"] for _, chat, _, _ in updates[1:-1]]
    assert len(streamed) > 3 and streamed[0] != streamed[-1]  # piece by piece
    assert all(content.endswith("▌") for content in streamed)

    box, chat, session, panel = updates[-1]
    assert box == "" and [m["role"] for m in chat] == ["user", "assistant"]
    answer = chat[-1]["content"]
    assert "src-1-0-1" in answer and "Fuentes:" in answer
    assert "primer token" in answer and "total" in answer  # timings under the answer
    # The card the first citation opens: visible, with the supporting sentence marked.
    card = re.search(
        r'<article class="source-card" data-key="1-0-1">(.*?)</article>', panel, re.DOTALL
    ).group(1)
    marked = re.search(r"<mark[^>]*>(.*?)</mark>", card, re.DOTALL).group(1)
    assert "palabra correcta" in marked
    assert 'data-key="1-1-1" hidden' in panel  # the second sentence's card waits for a click


def test_unsupported_sentences_are_marked(make_app):
    _, chat, _, _ = ask(make_app(), QUESTION, study_app.ChatSession())[-1]
    answer = chat[-1]["content"]
    unsupported = re.findall(r'<span class="unsupported" title[^>]*>(.*?)</span>', answer)
    assert [text_of(u) for u in unsupported] == ["⚠ Los pingüinos vuelan hasta Marte cada martes."]
    assert "frase que tus notas no respaldan" in answer  # the legend


def test_an_abstention_is_shown_with_the_closest_passages(make_app):
    _, chat, _, panel = ask(make_app(script=ABSTAIN), QUESTION, study_app.ChatSession())[-1]
    answer = chat[-1]["content"]
    assert 'class="abstained"' in answer and ABSTAIN in answer
    assert "Pasajes más cercanos" in answer
    assert re.findall(r"src-(1-c-\d)", answer) == ["1-c-1", "1-c-2", "1-c-3"]
    assert 'data-key="1-c-1"' in panel


def test_two_sessions_never_see_each_others_history(make_app):
    app = make_app()
    alice, bob = study_app.ChatSession(), study_app.ChatSession()
    ask(app, QUESTION, alice)
    ask(app, "¿Qué es BERT?", bob)
    _, alice_chat, alice, _ = ask(app, "¿Y cuáles son sus desventajas?", alice)[-1]
    _, bob_chat, bob, _ = ask(app, "¿Y cuáles son sus desventajas?", bob)[-1]

    assert [t.question for t in alice.turns] == [QUESTION, "¿Y cuáles son sus desventajas?"]
    assert alice.turns[1].query.startswith(QUESTION)  # the follow-up used its own history
    assert bob.turns[1].query.startswith("¿Qué es BERT?")
    assert "BERT" not in " ".join(m["content"] for m in alice_chat)
    assert "Teacher" not in " ".join(m["content"] for m in bob_chat if m["role"] == "user")
    assert "Búsqueda: «¿Qué es Teacher Forcing?" in alice_chat[-1]["content"]


def test_a_new_conversation_forgets_the_history(make_app):
    app = make_app()
    chat, session, panel = app.new_conversation()
    assert chat == [] and session.turns == [] and "source-card" not in panel
    ask(app, QUESTION, session)
    assert len(session.turns) == 1
    assert study_app.StudyApp.new_conversation()[1].turns == []


def test_model_and_note_text_is_never_live_html(make_app, notes_copy):
    (notes_copy / "trampa.md").write_text(
        "# Trampa\n\nEl token <script>alert(1)</script> es peligroso en HTML.\n", encoding="utf-8"
    )
    app = make_app(script="El token <script>alert(1)</script> es peligroso en HTML [1].")
    app.reindex(progress=lambda *a, **k: None)
    _, chat, _, panel = ask(app, "¿Qué token es peligroso en HTML?", study_app.ChatSession())[-1]
    for html_text in (chat[-1]["content"], chat[0]["content"], panel):
        assert "<script>" not in html_text
    assert "&lt;script&gt;" in panel and "&lt;script&gt;" in chat[-1]["content"]
    assert "<script>alert(1)</script>" in app.note_text("trampa.md")  # the preview is text


def test_settings_reach_the_assistant_and_each_combination_is_built_once(make_app):
    made = []
    app = make_app(made=made)
    session = study_app.ChatSession()
    ask(app, QUESTION, session, ("gemma-270m", True, "few-shot:2", 2, 64, 0.5))
    ask(app, "¿Qué es BERT?", session, ("gemma-270m", True, "few-shot:2", 2, 64, 0.5))
    ask(app, "¿Qué es BERT?", session, ("smollm2-135m", True, "zero-shot", 3, 160, 0.0))
    assert made == [
        study_app.ChatSettings("gemma-270m", "default", "few-shot:2", 2, 64, 0.5),
        study_app.ChatSettings("smollm2-135m", None, "zero-shot", 3, 160, 0.0),  # no adapter
    ]


def test_the_first_question_says_the_model_is_loading(make_app):
    app = make_app()
    first = ask(app, QUESTION, study_app.ChatSession())[0][1][-1]["content"]
    again = ask(app, QUESTION, study_app.ChatSession())[0][1][-1]["content"]
    assert "Cargando el modelo gemma-270m" in first and "Cargando" not in again


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_a_gradio_error(make_app, question):
    with pytest.raises(gr.Error, match="vacía"):
        ask(make_app(), question, study_app.ChatSession())


def test_assistant_errors_become_one_line_gradio_errors(make_app, notes_copy, tmp_path):
    def broken(index, settings):
        raise ModelNotInstalledError("Falta el paquete del modelo: instálalo con make setup")

    app = study_app.StudyApp(notes_copy, tmp_path / "index", broken)
    session = study_app.ChatSession()
    with pytest.raises(gr.Error, match="Falta el paquete"):
        list(app.ask(QUESTION, session, *SETTINGS))
    assert "Falta el paquete" in session.messages[-1]["content"]  # shown in the chat too
    assert session.turns == []


def test_the_ui_builds_and_exposes_the_chat_api(make_app):
    demo = study_app.build_ui(make_app())
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"ask", "new_conversation"} <= names


# -- start -------------------------------------------------------------------------------


def test_flags_fall_back_to_environment_variables(monkeypatch):
    monkeypatch.setenv("STUDY_ASSISTANT_HOST", "0.0.0.0")
    monkeypatch.setenv("STUDY_ASSISTANT_PORT", "8000")
    monkeypatch.setenv("STUDY_ASSISTANT_NOTES", "/n")
    monkeypatch.setenv("STUDY_ASSISTANT_INDEX", "/i")
    args = study_app.parse_args([])
    assert (args.host, args.port, args.notes, args.index) == ("0.0.0.0", 8000, "/n", "/i")
    assert study_app.parse_args(["--port", "9000"]).port == 9000


def test_defaults_are_loopback_and_the_default_notes(monkeypatch):
    for name in ("HOST", "PORT", "NOTES", "INDEX", "AUTH"):
        monkeypatch.delenv(f"STUDY_ASSISTANT_{name}", raising=False)
    args = study_app.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    assert args.notes == str(study_app.DEFAULT_NOTES) and args.auth is None


@pytest.mark.parametrize(
    "host, auth, warns",
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("0.0.0.0", None, True),
        ("192.168.1.5", None, True),
        ("0.0.0.0", ("ana", "x"), False),
        ("127.0.0.2", None, False),  # all of 127/8 is this machine
        ("127.evil.example", None, True),  # a name, judged by what it resolves to
        ("::ffff:192.168.1.5", None, True),
    ],
)
def test_only_an_exposed_host_without_auth_warns(host, auth, warns):
    assert (study_app.exposure_warning(host, auth) is not None) == warns


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("ana:secreto", ("ana", "secreto")),
        ("ana:a:b", ("ana", "a:b")),
    ],
)
def test_auth_is_user_colon_password(value, expected):
    assert parse_auth(value) == expected


@pytest.mark.parametrize("value", ["ana", ":x", "ana:"])
def test_malformed_auth_is_refused(value):
    with pytest.raises(Exception, match="usuario:contraseña"):
        parse_auth(value)


def test_main_exits_with_a_one_line_error_on_missing_notes(tmp_path, capsys):
    code = study_app.main(["--notes", str(tmp_path / "nada"), "--index", str(tmp_path / "i")])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: No existe")


# -- notes tab ---------------------------------------------------------------------------


def test_notes_are_listed_with_their_chunk_counts(make_app, notes_copy):
    app = make_app()
    rows = {row[0]: row[1] for row in app.notes.rows()}
    assert set(rows) == {"preguntas_nlp_llm.md", "teacher_forcing.md"}
    assert all(isinstance(count, int) and count > 0 for count in rows.values())
    (notes_copy / "nueva.md").write_text("# Nueva\n\nUna nota nueva sobre RAG.\n", encoding="utf-8")
    assert {r[0]: r[1] for r in app.notes.rows()}["nueva.md"] == "sin indexar"


def test_upload_sanitizes_the_name_and_reindexing_uses_the_note(make_app, notes_copy, tmp_path):
    app = make_app()
    upload = tmp_path / "up" / "Mis apuntes <RAG>.md"
    upload.parent.mkdir()
    upload.write_text(
        "# RAG\n\nRAG combina recuperación y generación de texto.\n", encoding="utf-8"
    )
    status = app.upload([str(upload)], replace=False, progress=lambda *a, **k: None)
    assert status.startswith("Añadidas: Mis apuntes _RAG_.md.\nÍndice listo:")
    assert "Nuevas: Mis apuntes _RAG_.md" in status
    assert (notes_copy / "Mis apuntes _RAG_.md").exists() and upload.exists()  # not Gradio's
    counts = {row[0]: row[1] for row in app.notes.rows()}
    assert counts["Mis apuntes _RAG_.md"] == 1
    assert any(c.source == "Mis apuntes _RAG_.md" for c in app.index.chunks)


def test_upload_never_overwrites_an_existing_note_silently(make_app, notes_copy, tmp_path):
    app = make_app()
    before = (notes_copy / "teacher_forcing.md").read_bytes()
    upload = tmp_path / "teacher_forcing.md"
    upload.write_text("# Otra cosa\n\nTexto distinto.\n", encoding="utf-8")
    with pytest.raises(gr.Error, match="Ya hay una nota llamada teacher_forcing.md"):
        app.upload([str(upload)], replace=False)
    assert (notes_copy / "teacher_forcing.md").read_bytes() == before
    app.upload([str(upload)], replace=True)
    assert (notes_copy / "teacher_forcing.md").read_text(encoding="utf-8").startswith("# Otra")


def test_delete_moves_the_note_to_the_trash_and_reindexes_without_it(make_app, notes_copy):
    app = make_app()
    status, _, trash = app.delete("teacher_forcing.md", progress=lambda *a, **k: None)
    assert "papelera" in status and trash.value == "teacher_forcing.md"
    assert not (notes_copy / "teacher_forcing.md").exists()
    assert (notes_copy / TRASH / "teacher_forcing.md").exists()
    assert "Quitadas: teacher_forcing.md" in status
    assert [row[0] for row in app.notes.rows()] == ["preguntas_nlp_llm.md"]
    with pytest.raises(gr.Error, match="única nota"):
        app.delete("preguntas_nlp_llm.md")


def test_warm_up_loads_the_default_chat_once_so_the_first_question_finds_it(make_app):
    made = []
    app = make_app(made=made)
    assert app.warm_up() >= 0
    assert made == [study_app.ChatSettings()]
    # The warm-up ran the generator once (a one-token "Hola"), so its model is loaded.
    warmed = app.chat._assistants[(study_app.ChatSettings(), None)].generator
    assert warmed.prompts == ["Hola"] and warmed.configs[0].max_new_tokens == 1
    defaults = control_values(study_app.ChatSettings())  # the controls' start
    updates = ask(app, QUESTION, study_app.ChatSession(), settings=defaults)
    assert made == [study_app.ChatSettings()]
    assert "[1]" in updates[-1][1][-1]["content"]


def test_a_failed_warm_up_is_one_line_and_the_first_question_loads_again(make_app, capsys):
    app = make_app()
    calls = []

    def broken(index, settings):
        calls.append(settings)
        raise ModelNotInstalledError("falta el modelo gemma-270m")

    app.chat.make_assistant = broken
    assert app.warm_up() is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "falta el modelo" in err[0]
    with pytest.raises(gr.Error, match="falta el modelo"):
        ask(app, QUESTION, study_app.ChatSession())
    assert len(calls) == 2


# -- experiments tab ---------------------------------------------------------------------


def test_experiments_run_in_the_worker_and_show_its_outputs(make_app, tmp_path):
    shown = []

    def record(value, desc=None, **kwargs):
        shown.append((value, desc))

    app = make_app(experiments=scripted_worker("finishes"))
    status, table, plots, report = app.experiment(
        ["zero-shot"], ["gemma-270m+lora"], 5, progress=record
    )
    (out,) = (tmp_path / "experiments").iterdir()
    asked = json.loads((out / "asked.json").read_text())
    assert asked == [["zero-shot"], ["gemma-270m+lora"], [0], 5, str(tmp_path / "index")]
    assert f"Resultados en {out}" in status
    assert shown[0][1].startswith("Preparando el experimento")  # before the first answer
    value, desc = shown[-1]
    assert value == (1, 2)
    assert desc.startswith("0/1 celdas terminadas · 1/2 respuestas (última: zero-shot__")
    row = dict(zip(table.headers, table.value["data"][0]))
    assert row["F1 de palabras"] == "0.412 ± 0.050"
    # Latencies in seconds, labelled, in the grid and in the report alike.
    assert row["total (s)"] == "5.32 ± 0.12" and "total_ms" not in table.headers
    assert "| total (s) |" in report and "5.32 ± 0.12" in report
    assert [Path(p).name for p in plots] == ["metrics.png"]
    assert "## Calidad" in report and "## Gráficos" not in report  # the gallery shows plots
    with pytest.raises(gr.Error, match="al menos una estrategia"):
        app.experiment([], ["gemma-270m"], 5, progress=lambda *a, **k: None)


def test_the_published_held_out_grid_of_the_chats_model_is_shown_before_any_run(
    make_app, monkeypatch, tmp_path
):
    app = make_app()
    published = json.loads((experiments_desk.PUBLISHED / "results.json").read_text())
    status, table, plots, report = app.published_experiment()
    seeds = ", ".join(str(seed) for seed in published["config"]["seeds"])
    assert "docs/experiments/heldout-current" in status and f"(semillas {seeds})." in status
    # The chat's default model, its adapter and precision: what the chat runs.
    assert [m["spec"] for m in published["config"]["models"]] == [study_app.CHAT_EXPERIMENT_MODEL]
    shipped = study_app.SHIPPED_ADAPTERS[study_app.ChatSettings.model]
    assert published["config"]["models"][0]["adapter"] == str(shipped.relative_to(study_app.ROOT))
    assert published["config"]["precision"] == DEFAULT_PRECISION
    assert published["config"]["questions"].endswith("notes_heldout.jsonl")
    assert len(table.value["data"]) == len(published["cells"]) > 0
    assert {Path(p).name for p in plots} == {"metrics.png", "latency_f1.png"}
    assert report.startswith("# Experimento") and "## Calidad" in report
    assert "![" not in report and "## Gráficos" not in report
    monkeypatch.setattr("assistant.web.experiments_desk.PUBLISHED", tmp_path / "missing")
    assert app.published_experiment() == (
        "No hay un experimento publicado que mostrar.",
        None,
        [],
        "",
    )


def test_experiment_errors_become_gradio_errors(make_app):
    app = make_app(experiments=scripted_worker("refuses"))  # the child: a settings error
    with pytest.raises(gr.Error, match="repetidos"):
        app.experiment(["zero-shot"], ["gemma-270m"], 5, progress=lambda *a, **k: None)
    with pytest.raises(gr.Error, match="Modelo desconocido"):  # refused before the child
        app.experiment(["zero-shot"], ["gpt-9"], 5, progress=lambda *a, **k: None)


# -- evidence and notes admin (the modules the app uses) ----------------------------------


def test_sentence_spans_skip_headings_and_index_the_passage():
    passage = "# Título\n\nPrimera frase. Segunda frase.\n- Un punto de la lista\n"
    spans = prose_spans(passage)
    assert [passage[s:e] for s, e in spans] == [
        "Primera frase.",
        "Segunda frase.",
        "- Un punto de la lista",
    ]


def test_the_best_span_is_the_supporting_sentence_and_is_escaped():
    passage = "El gato <b>duerme</b> mucho. La atención pondera los tokens de la entrada."
    sentence = "La atención pondera los tokens."
    ((span,),) = evidence_spans(
        [[1]], {1: passage}, lambda texts: OverlapChecker().scores([sentence], texts)
    )
    assert passage[span.start : span.end] == "La atención pondera los tokens de la entrada."
    html_text = highlight_html(passage, "nota.md", span)
    assert "&lt;b&gt;duerme&lt;/b&gt;" in html_text
    assert re.search(r"<mark[^>]*>La atención pondera", html_text)


def test_an_empty_sources_panel_has_a_hint():
    assert "Aquí aparecerán" in sources_panel_html([])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("apuntes.md", "apuntes.md"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\ana\\Tema 1.PDF", "Tema 1.pdf"),
        (".oculto.md", "oculto.md"),
        ("a<script>b.md", "a_script_b.md"),
        ("Lección  ñandú.markdown", "Lección ñandú.markdown"),
        ("x" * 300 + ".md", "x" * 100 + ".md"),
    ],
)
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


@pytest.mark.parametrize("name", ["programa.exe", "sin_extension", "....md", "<>.txt"])
def test_sanitize_filename_refuses(name):
    with pytest.raises(NotesError):
        sanitize_filename(name)


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("binario.md", b"\x00\x01\x02texto", "binario"),
        ("latin1.txt", "canción".encode("latin-1"), "UTF-8"),
        ("vacia.md", b"   \n", "vacía"),
        ("falso.pdf", b"no soy un pdf", "PDF"),
    ],
)
def test_unusable_uploads_are_refused_with_the_loaders_reason(notes_copy, name, data, reason):
    with pytest.raises(NotesError, match=reason):
        save_note(notes_copy, name, data)
    assert not (notes_copy / name).exists()


def test_a_copy_of_an_existing_note_is_refused(notes_copy):
    data = (notes_copy / "teacher_forcing.md").read_bytes()
    with pytest.raises(NotesError, match="idéntica a teacher_forcing.md"):
        save_note(notes_copy, "copia.md", data)
    with pytest.raises(NoteExistsError):
        save_note(notes_copy, "teacher_forcing.md", b"# Otra\n\nnota\n")


def test_delete_refuses_paths_outside_the_notes(notes_copy, tmp_path):
    (tmp_path / "fuera.md").write_text("# Fuera\n\ntexto\n", encoding="utf-8")
    for source in ("../fuera.md", "no_existe.md", f"{TRASH}/x.md"):
        with pytest.raises(NotesError):
            delete_note(notes_copy, source)
    assert (tmp_path / "fuera.md").exists()


def test_list_notes_without_an_index_has_no_counts(notes_copy):
    assert all(note.chunks is None for note in list_notes(notes_copy))
