"""The app as a student lives in it (issue 14), without a browser: passages as rendered,
sanitized Markdown; the chat kept in the browser and exported; the models' status line;
one line per abstention; the experiment's progress; delete with undo and replace with
the old version kept; one message per problem; one unit for latencies."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import gradio as gr
import pytest

import app as study_app
from assistant.answer import QUOTED_INSTEAD, WITHDRAWN, Assistant, AssistantConfig
from assistant.prompts import ABSTAIN
from assistant.study.cards import build_cards
from assistant.web import experiments_desk
from assistant.web.card_html import passage_html as study_passage_html
from assistant.web.chat_state import (
    SAVED_VERSION,
    ChatSession,
    SavedChatError,
    browser_secret,
    conversation_markdown,
)
from assistant.web.experiment_progress import GridProgress, duration_text
from assistant.web.markdown_html import is_markdown, markdown_html, passage_html
from assistant.web.model_status import ModelStatus
from assistant.web.notes_admin import (
    TRASH,
    TRASH_INDEX,
    delete_note,
    list_trash,
    restore_note,
    save_note,
)
from assistant.web.study_desk import Passage, card_passage
from corpus.chunking import chunk_notes
from corpus.errors import NotesError
from corpus.loader import load_notes
from corpus.markdown import prose_spans
from eval.experiment.report import render_report, results_table
from index.errors import ModelNotInstalledError
from index.store import build_index
from tests.conftest import NOTES
from tests.fakes import (
    OverlapChecker,
    OverlapSelector,
    ScriptedGenerator,
    open_policy,
    writes_every_form,
)
from tests.test_app import ANSWER, QUESTION, ask, fake_factory

BROKEN = ("roto", False, "zero-shot", 3, 160, 0.0)  # settings whose model fails to load


def breaks_on_roto(factory):
    def make(index, settings):
        if settings.model == "roto":
            raise ModelNotInstalledError("falta el modelo roto: instálalo con make setup")
        return factory(index, settings)

    return make


@pytest.fixture
def make_app(notes_copy, tmp_path, fake_embedder, fake_config):
    index_dir = tmp_path / "index"
    build_index(notes_copy, index_dir, index_config=fake_config)

    def make(factory=None):
        return study_app.StudyApp(
            notes_copy,
            index_dir,
            breaks_on_roto(factory or fake_factory()),
            experiments_dir=tmp_path / "experiments",
            chat_dir=tmp_path / "chat",
        )

    return make


def no_progress(*args, **kwargs) -> None:
    pass


def strip_marks(html_text: str) -> str:
    return re.sub(r"</?mark[^>]*>", "", html_text)


class _Nesting(HTMLParser):
    """Records the tags still open at the end and any close that does not match."""

    VOID = {"br", "hr", "img", "input", "meta", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.marked: list[str] = []  # the text inside <mark>

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if "mark" in self.stack:
            self.marked.append(data)


def nesting(html_text: str) -> _Nesting:
    parser = _Nesting()
    parser.feed(html_text)
    parser.close()
    return parser


# -- 1. passages as sanitized Markdown ---------------------------------------------------


@pytest.mark.parametrize(
    "markdown, present, absent",
    [
        ("## 49. ¿Qué es LoRA?", ["<h2>49. ¿Qué es LoRA?</h2>"], ["##"]),
        ("**Eficiencia:** usa *embeddings*", ["<strong>Eficiencia:</strong>", "<em>"], ["**"]),
        ("- uno\n- dos", ["<ul>", "<li>uno</li>"], ["- uno"]),
        ("| a | b |\n|---|---|\n| 1 | 2 |", ["<table>", "<td>1</td>"], ["|---|"]),
        ("<script>alert(1)</script>", ["&lt;script&gt;"], ["<script"]),
        ('<div onclick="x()">hola</div>', ["&lt;div onclick"], ["<div"]),
        ("texto <img src=x onerror=alert(1)> más", ["&lt;img src=x"], ["<img"]),
        ("[clic](javascript:alert(1))", [], ["href", "<a"]),
        ("[clic](JavaScript:alert(1))", [], ["href", "<a"]),
        ("[clic](vbscript:msgbox(1))", [], ["href", "<a"]),
        ("[clic](data:text/html,hola)", [], ["href", "<a"]),
        ("![foto remota](http://example.com/x.png)", ["foto remota"], ["<img", "http://"]),
        (
            "[el artículo](https://arxiv.org/abs/2106.09685)",
            ['href="https://arxiv.org/abs/2106.09685"', 'rel="noopener noreferrer"'],
            [],
        ),
    ],
)
def test_markdown_renders_and_no_raw_html_passes(markdown, present, absent):
    rendered = markdown_html(markdown)
    for piece in present:
        assert piece in rendered
    for piece in absent:
        assert piece not in rendered
    assert not nesting(rendered).errors


def _note_chunks():
    return [c for c in chunk_notes(load_notes(NOTES).notes) if c.source.endswith(".md")]


def test_a_highlighted_sentence_never_changes_how_the_passage_renders():
    """Every sentence of every chunk of the default notes, highlighted: the HTML is the
    unmarked rendering plus well-nested <mark> tags, and what they mark is that sentence."""
    checked = 0
    for chunk in _note_chunks():
        plain = markdown_html(chunk.text)
        for start, end in prose_spans(chunk.text):
            marked = markdown_html(chunk.text, (start, end), "respaldo")
            assert strip_marks(marked) == plain, (chunk.id, chunk.text[start:end])
            parsed = nesting(marked)
            assert not parsed.errors and not parsed.stack, (chunk.id, parsed.errors)
            words = " ".join(parsed.marked).split()
            source = chunk.text[start:end]
            if not re.search(r"\w", source):  # a stray "**": nothing to mark
                assert "<mark" not in marked
                continue
            assert words, (chunk.id, source)
            assert all(word.strip("*_`") in source for word in words), (chunk.id, words)
            checked += 1
    assert checked > 200


def test_every_study_card_span_renders_well_nested():
    """The study tab marks whole list items and definitions, across lines: the same
    property over every card of the default notes."""
    notes = load_notes(NOTES).notes
    chunks = {chunk.id: chunk for chunk in chunk_notes(notes)}
    marked = 0
    for card in build_cards(notes):
        passage = card_passage(card, chunks)
        if passage.mark is None or not is_markdown(passage.source):
            continue
        rendered = markdown_html(passage.text, passage.mark)
        assert strip_marks(rendered) == markdown_html(passage.text), card.id
        parsed = nesting(rendered)
        assert not parsed.errors and not parsed.stack and parsed.marked, card.id
        marked += 1
    assert marked > 20


@pytest.mark.parametrize(
    "text, span, marked",
    [
        (
            "- **Uno**: primero.\n- Dos: segundo.\n",
            ("- **Uno", "segundo."),
            "Uno: primero.Dos: segundo.",
        ),
        ("Es **muy importante**", ("**muy", "importante**"), "muy importante"),
        ("## 49. ¿Qué?\n\nTexto.", ("## 49", "¿Qué?"), "49. ¿Qué?"),
        ("Usa `torch.compile` siempre.", ("`torch", "siempre."), "torch.compile siempre."),
    ],
)
def test_a_mark_moves_off_markdown_syntax(text, span, marked):
    start = text.index(span[0])
    end = text.index(span[1]) + len(span[1])
    rendered = markdown_html(text, (start, end))
    assert strip_marks(rendered) == markdown_html(text)
    assert "".join(nesting(rendered).marked).replace("\n", "") == marked


def test_marker_characters_in_a_note_cannot_open_a_mark():
    assert "<mark" not in markdown_html("a \ue000b\ue001 c")


def test_only_markdown_notes_are_rendered_as_markdown():
    assert '<div class="passage md"><h1>T</h1>' in passage_html("# T", "a.md")
    assert passage_html("# T <b>x</b>", "a.txt") == (
        '<div class="passage"># T &lt;b&gt;x&lt;/b&gt;</div>'
    )
    assert "<mark" in passage_html("uno dos", "a.pdf", (0, 3))


def test_the_sources_panel_shows_the_passage_rendered(make_app):
    _, _, _, panel = ask(make_app(), QUESTION, study_app.ChatSession())[-1]
    card = re.search(r'data-key="1-0-1">(.*?)</article>', panel, re.DOTALL).group(1)
    assert '<div class="passage md">' in card and "<h1>" in card and "# Teacher" not in card
    assert re.search(r"<mark[^>]*>[^<]*palabra correcta", card)


def test_the_study_card_passage_is_rendered_with_its_span_marked():
    text = "## ¿Qué es X?\n\n**X** es una técnica. Otra frase.\n"
    start = text.index("**X**")
    passage = Passage("n.md", "¿Qué es X?", text, (start, text.index(" Otra")))
    card = study_passage_html(passage)
    assert "<h2>¿Qué es X?</h2>" in card and "**" not in card
    assert re.search(r'<mark title="De aquí sale la tarjeta">X</mark>', card)


def test_the_note_preview_is_rendered_markdown_and_never_live_html(make_app, notes_copy):
    (notes_copy / "trampa.md").write_text(
        "# Trampa\n\n**Ojo:** <script>alert(1)</script>\n", encoding="utf-8"
    )
    (notes_copy / "texto.txt").write_text("# no es un título\n<b>x</b>\n", encoding="utf-8")
    app = make_app()
    preview = app.note_preview("trampa.md")
    assert "<h1>Trampa</h1>" in preview and "<strong>Ojo:</strong>" in preview
    assert "<script" not in preview and "&lt;script&gt;" in preview
    assert "# no es un título" in app.note_preview("texto.txt")  # text stays text
    assert "<b>" not in app.note_preview("texto.txt") and app.note_preview(None) == ""
    with pytest.raises(gr.Error, match="No hay ninguna nota"):
        app.note_preview("../fuera.md")


# -- 3. the conversation kept in the browser, and exported --------------------------------


def test_a_saved_conversation_comes_back_as_it_was(make_app):
    app = make_app()
    session = ChatSession()
    ask(app, QUESTION, session)
    ask(app, "¿Y cuáles son sus desventajas?", session)
    saved = json.loads(json.dumps(app.saved_chat(session, {})))  # what localStorage holds
    own = saved["cuadernos"][app.notebook.name]  # each notebook's conversation apart
    assert own["version"] == SAVED_VERSION and len(own["exchanges"]) == 2

    messages, restored, panel = app.restore_chat(saved)
    assert messages == session.messages and restored.turns == session.turns
    assert [c.body_html for c in restored.cards] == [c.body_html for c in session.cards]
    assert 'data-key="2-0-1"' in panel and "<mark" in panel
    # A follow-up after the reload still reads the restored history.
    _, chat, restored, _ = ask(app, "¿Y para qué sirve?", restored)[-1]
    assert "¿Y cuáles son sus desventajas?" in restored.turns[-1].query
    assert len(chat) == 6


def test_an_error_is_saved_and_numbers_never_repeat(make_app):
    app = make_app()
    session = ChatSession()
    with pytest.raises(gr.Error):
        ask(app, QUESTION, session, BROKEN)
    ask(app, QUESTION, session)
    restored = ChatSession.from_json(app.saved_chat(session, {})["cuadernos"][app.notebook.name])
    assert [e.kind for e in restored.exchanges] == ["error", "answer"]
    assert restored.turns == session.turns and len(restored.turns) == 1
    assert restored.next_number == 3


def test_only_the_newest_exchanges_are_kept(make_app):
    app = make_app()
    session = ChatSession()
    for _ in range(3):
        ask(app, QUESTION, session)
    kept = ChatSession.from_json(session.to_json(keep=2))
    assert [e.number for e in kept.exchanges] == [2, 3] and kept.next_number == 4


@pytest.mark.parametrize(
    "payload",
    [
        {"version": 99, "exchanges": []},
        {"version": SAVED_VERSION},
        {"version": SAVED_VERSION, "exchanges": [{"number": 1}]},
        "texto",
        [1, 2],
    ],
)
def test_an_unreadable_saved_conversation_is_one_warning_and_an_empty_chat(
    make_app, monkeypatch, payload
):
    warned = []
    monkeypatch.setattr("assistant.web.callbacks._warn", warned.append)
    with pytest.raises(SavedChatError):
        ChatSession.from_json(payload)
    messages, session, _ = make_app().restore_chat(payload)
    assert messages == [] and session.exchanges == [] and len(warned) == 1


@pytest.mark.parametrize("payload", [None, {}])
def test_nothing_saved_is_an_empty_chat(payload):
    assert ChatSession.from_json(payload).exchanges == []


def test_a_saved_highlight_outside_its_passage_is_refused(make_app):
    session = ChatSession()
    ask(make_app(), QUESTION, session)
    saved = session.to_json()
    saved["exchanges"][0]["cards"][0]["evidence"]["end"] = 10**6
    with pytest.raises(SavedChatError, match="fuera del texto"):
        ChatSession.from_json(saved)


def test_the_export_has_each_question_answer_and_cited_passage(make_app):
    app = make_app()
    session = ChatSession()
    ask(app, QUESTION, session)
    with pytest.raises(gr.Error):
        ask(app, QUESTION, session, BROKEN)
    update = app.export_chat(session)
    path = Path(update["value"])
    assert update["visible"] and path.parent == app.chat.chat_dir and path.suffix == ".md"
    text = path.read_text(encoding="utf-8")
    assert text == conversation_markdown(session)
    assert text.startswith("# Conversación con tus notas")
    assert f"## 1. {QUESTION}" in text and ANSWER.split(" [1]")[0] in text
    assert "### Pasajes citados" in text and "**[1] teacher_forcing.md" in text
    assert "> Teacher Forcing es una técnica" in text  # the passage, quoted in full
    assert "- ⚠ Los pingüinos vuelan hasta Marte cada martes" in text  # flagged as in the chat
    assert "## 2. " in text and "⚠ Error:" in text
    with pytest.raises(gr.Error, match="nada que exportar"):
        app.export_chat(ChatSession())


def test_an_abstention_exports_its_closest_passages(make_app):
    app = make_app(fake_factory(script=ABSTAIN))
    session = ChatSession()
    ask(app, QUESTION, session)
    text = conversation_markdown(session)
    assert ABSTAIN in text and "### Pasajes más cercanos" in text and "**[3] " in text


def test_the_browser_key_is_made_once_and_kept_private(tmp_path):
    path = tmp_path / "chat" / "browser-secret"
    first = browser_secret(path)
    assert len(first) >= 32 and browser_secret(path) == first
    assert path.stat().st_mode & 0o077 == 0
    path.write_text("corta", encoding="utf-8")  # damaged: a new one
    assert browser_secret(path) not in (first, "corta")


def test_the_ui_keeps_the_chat_in_the_browser(make_app):
    app = make_app()
    demo = study_app.build_ui(app)
    states = [b for b in demo.blocks.values() if isinstance(b, gr.BrowserState)]
    assert [(s.storage_key, s.secret) for s in states] == [
        (study_app.CHAT_STORAGE_KEY, app.browser_secret)
    ]


# -- 4. the models' status line -----------------------------------------------------------


def test_the_status_line_follows_the_warm_up(make_app):
    app = make_app()
    line, timer = app.models_view()
    assert "se cargan con la primera pregunta" in line and not timer.active
    app.models.loading()
    line, timer = app.models_view()
    assert "cargando modelos…" in line and timer.active
    assert app.warm_up() is not None
    line, timer = app.models_view()
    assert "listo" in line and "cargados en" in line and not timer.active


def test_a_failed_warm_up_says_so_and_a_question_then_makes_it_ready(make_app, capsys):
    app = make_app()
    real = app.chat.make_assistant

    def broken(index, settings):
        raise study_app.AssistantError("falta el modelo gemma-270m <x>")

    app.chat.make_assistant = broken
    assert app.warm_up() is None
    line, timer = app.models_view()
    assert "no se pudieron precargar" in line and "&lt;x&gt;" in line and not timer.active
    app.chat.make_assistant = real
    ask(app, QUESTION, ChatSession(), settings=("gemma-270m", True, "zero-shot", 3, 160, 0.0))
    assert "listo" in app.models_view()[0]


def test_a_question_with_other_settings_does_not_claim_the_models_are_ready(make_app):
    app = make_app()
    ask(app, QUESTION, ChatSession(), settings=("smollm2-135m", False, "zero-shot", 3, 160, 0.0))
    assert app.models.state == "pending"


@pytest.mark.parametrize(
    "steps, state",
    [
        ([], "pending"),
        (["loading"], "loading"),
        (["loading", "ready"], "ready"),
        (["loading", "failed"], "failed"),
        (["loading", "ready", "failed", "loading"], "ready"),  # ready stays ready
    ],
)
def test_model_status_transitions(steps, state):
    status = ModelStatus()
    for step in steps:
        getattr(status, step)(*(["x"] if step == "failed" else []))
    assert status.state == state and status.settled == (state != "loading")


# -- 5. an abstention says why once -------------------------------------------------------


def policy_factory(script, policy):
    def make(index, settings):
        config = AssistantConfig(
            evidence=writes_every_form(), strategy=settings.strategy, abstention=policy
        )
        return Assistant(
            index, ScriptedGenerator(script), OverlapChecker(), config, selector=OverlapSelector()
        )

    return make


UNSUPPORTED = "Los pingüinos vuelan hasta Marte cada martes [1]."


def test_a_quoted_fallback_is_one_note(make_app):
    app = make_app(policy_factory(UNSUPPORTED, open_policy(abstain_on_unknown_names=False)))
    _, chat, _, _ = ask(app, QUESTION, ChatSession())[-1]
    reply = chat[-1]["content"]
    assert reply.count("nota:") == 1
    assert f"nota: {WITHDRAWN}; {QUOTED_INSTEAD}" in reply
    assert "pingüinos" not in reply  # the unsupported draft is not shown


def test_a_draft_that_abstains_by_itself_is_not_called_unsupported(make_app):
    app = make_app(fake_factory(script=f"{ABSTAIN} Pero quizá sea otra cosa."))
    _, chat, _, _ = ask(app, QUESTION, ChatSession())[-1]
    reply = chat[-1]["content"]
    assert ABSTAIN in reply and "borrador descartado" not in reply and "ninguna" not in reply


def test_other_remarks_are_kept(make_app):
    app = make_app()
    _, chat, _, _ = ask(app, "¿Qué es Teacher Forcing? " + "x" * 1200, ChatSession())[-1]
    assert chat[-1]["content"].count("nota: la pregunta tenía") == 1


# -- 6. the experiment's progress ---------------------------------------------------------


def test_progress_counts_cells_and_estimates_from_computed_answers():
    now = [100.0]
    grid = GridProgress(cells=3, clock=lambda: now[0])
    first = grid(4, 12, "cell-a")  # a finished cell, counted in one step: no estimate yet
    assert (first.cells_done, first.seconds_left) == (1, None)
    assert "calculando" in first.line
    now[0] += 20.0  # loading the model and two answers
    grid(5, 12, "cell-b")
    step = grid(6, 12, "cell-b")
    assert step.seconds_left == pytest.approx(20.0 / 2 * 6)  # 10 s per answer, 6 to go
    assert step.line == ("1/3 celdas terminadas · 6/12 respuestas (última: cell-b) · quedan ~1 min")
    now[0] += 60.0
    last = grid(12, 12, "cell-c")
    assert last.cells_done == 3 and last.line.endswith("escribiendo el informe…")


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.2, "1 s"),
        (45, "45 s"),
        (130, "2 min 10 s"),
        (600, "10 min"),
        (4000, "1 h 6 min"),
        (7200, "2 h"),
    ],
)
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_progress_needs_a_cell():
    with pytest.raises(ValueError, match="cells"):
        GridProgress(cells=0)


# -- 7. delete with confirmation and undo; replace keeps the old version -------------------


def test_a_deleted_note_comes_back_from_the_trash(notes_copy):
    before = (notes_copy / "teacher_forcing.md").read_bytes()
    delete_note(notes_copy, "teacher_forcing.md")
    (trashed,) = list_trash(notes_copy)
    assert (trashed.source, trashed.reason) == ("teacher_forcing.md", "borrada")
    assert restore_note(notes_copy, trashed.name) == ("teacher_forcing.md", None)
    assert (notes_copy / "teacher_forcing.md").read_bytes() == before
    assert list_trash(notes_copy) == []


def test_a_note_in_a_subfolder_goes_back_to_its_folder(notes_copy):
    (notes_copy / "tema1").mkdir()
    (notes_copy / "tema1" / "rag.md").write_text("# RAG\n\nRecupera y genera.\n", "utf-8")
    trash = delete_note(notes_copy, "tema1/rag.md")
    (trashed,) = list_trash(notes_copy)
    assert trashed.source == "tema1/rag.md" and trash.name == trashed.name
    restore_note(notes_copy, trashed.name)
    assert (notes_copy / "tema1" / "rag.md").read_text("utf-8").startswith("# RAG")


def test_a_replaced_note_keeps_its_old_version_and_a_restore_swaps_them(notes_copy):
    old = (notes_copy / "teacher_forcing.md").read_bytes()
    new = b"# Teacher Forcing\n\nVersion nueva de la nota.\n"
    save_note(notes_copy, "teacher_forcing.md", new, replace=True)
    (trashed,) = list_trash(notes_copy)
    assert trashed.reason == "reemplazada"
    assert (notes_copy / TRASH / trashed.name).read_bytes() == old
    source, displaced = restore_note(notes_copy, trashed.name)
    assert (notes_copy / source).read_bytes() == old and displaced.read_bytes() == new
    assert [(t.source, t.reason) for t in list_trash(notes_copy)] == [
        ("teacher_forcing.md", "reemplazada")
    ]


def test_replacing_a_note_with_itself_keeps_no_copy(notes_copy):
    same = (notes_copy / "teacher_forcing.md").read_bytes()
    save_note(notes_copy, "teacher_forcing.md", same, replace=True)
    assert list_trash(notes_copy) == []


def test_two_deletes_of_one_name_both_stay_restorable(notes_copy):
    for text in ("# A\n\nprimera versión\n", "# A\n\nsegunda versión\n"):
        (notes_copy / "a.md").write_text(text, "utf-8")
        delete_note(notes_copy, "a.md")
    names = [t.name for t in list_trash(notes_copy)]
    assert len(set(names)) == 2
    for name in names:
        restore_note(notes_copy, name)  # the second displaces the first back to the trash
    assert len(list_trash(notes_copy)) == 1


def test_a_file_put_in_the_trash_by_hand_is_listed(notes_copy):
    (notes_copy / TRASH).mkdir()
    (notes_copy / TRASH / "vieja.md").write_text("# Vieja\n\ntexto\n", "utf-8")
    (notes_copy / TRASH / "notas.bin").write_bytes(b"\x00")  # not a note: not listed
    (trashed,) = list_trash(notes_copy)
    assert (trashed.name, trashed.source) == ("vieja.md", "vieja.md")
    restore_note(notes_copy, "vieja.md")
    assert (notes_copy / "vieja.md").exists()


@pytest.mark.parametrize(
    "entry",
    [
        {"source": "../fuera.md"},
        {"source": f"{TRASH}/otra.md"},
    ],
)
def test_a_restore_never_writes_outside_the_notes(notes_copy, entry):
    delete_note(notes_copy, "teacher_forcing.md")
    index = notes_copy / TRASH / TRASH_INDEX
    entries = json.loads(index.read_text("utf-8"))
    entries["teacher_forcing.md"].update(entry)
    index.write_text(json.dumps(entries), "utf-8")
    with pytest.raises(NotesError, match="no está dentro"):
        restore_note(notes_copy, "teacher_forcing.md")
    assert not (notes_copy.parent / "fuera.md").exists()


@pytest.mark.parametrize(
    "index_text",
    [
        "{no es json",
        '{"teacher_forcing.md": {"source": 5, "reason": "borrada", "when": "x"}}',
        '{"teacher_forcing.md": {"reason": "borrada"}}',
        '{"teacher_forcing.md": "borrada"}',
    ],
)
def test_unknown_and_damaged_trash_entries_are_one_line_errors(notes_copy, index_text):
    with pytest.raises(NotesError, match="papelera"):
        restore_note(notes_copy, "nada.md")
    delete_note(notes_copy, "teacher_forcing.md")
    (notes_copy / TRASH / TRASH_INDEX).write_text(index_text, "utf-8")
    with pytest.raises(NotesError, match="dañado"):
        list_trash(notes_copy)
    assert (notes_copy / TRASH / "teacher_forcing.md").exists()  # the note itself is safe


def test_the_app_asks_before_deleting_then_restores_and_reindexes(make_app, notes_copy):
    app = make_app()
    with pytest.raises(gr.Error, match="Elige la nota"):
        app.confirm_delete(None)
    box, question = app.confirm_delete("teacher_forcing.md")
    assert box.visible and "teacher_forcing.md" in question and "papelera" in question
    assert (notes_copy / "teacher_forcing.md").exists()  # asking deletes nothing

    summary, box, trash = app.delete("teacher_forcing.md", progress=no_progress)
    assert not box.visible and trash.value == "teacher_forcing.md"
    assert summary.startswith("teacher_forcing.md movida a la papelera")
    assert "Quitadas: teacher_forcing.md" in summary
    assert all(c.source != "teacher_forcing.md" for c in app.index.chunks)

    with pytest.raises(gr.Error, match="Elige en la papelera"):
        app.restore(None)
    summary, trash = app.restore(trash.value, progress=no_progress)
    assert trash.choices == []
    assert summary.startswith("teacher_forcing.md recuperada de la papelera")
    assert "Nuevas: teacher_forcing.md" in summary
    assert any(c.source == "teacher_forcing.md" for c in app.index.chunks)


def test_the_trash_dropdown_lists_a_replaced_version(make_app, notes_copy, tmp_path):
    app = make_app()
    upload = tmp_path / "teacher_forcing.md"
    upload.write_text("# Teacher Forcing\n\nOtra versión.\n", encoding="utf-8")
    status = app.upload([str(upload)], replace=True)
    assert "Reemplazadas: teacher_forcing.md" in status and "papelera" in status
    (choice,) = app.trash_view().choices
    assert choice[0].startswith("teacher_forcing.md (reemplazada el ")


def test_the_ui_has_the_confirmation_and_the_trash(make_app):
    demo = study_app.build_ui(make_app())
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"delete-note", "confirm-delete", "cancel-delete", "trash", "restore-note"} <= ids


# -- 8. one problem, one message ----------------------------------------------------------


@pytest.fixture
def warnings_seen(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr("assistant.web.callbacks._warn", seen.append)
    return seen


def test_a_bad_upload_is_one_error_and_no_warning(make_app, tmp_path, warnings_seen):
    bad = tmp_path / "binario.md"
    bad.write_bytes(b"\x00\x01\x02texto")
    with pytest.raises(gr.Error) as raised:
        make_app().upload([str(bad)], replace=False)
    assert "binario.md" in str(raised.value) and warnings_seen == []


def test_two_bad_uploads_are_one_error(make_app, tmp_path, warnings_seen):
    files = []
    for name in ("a.exe", "b.md"):
        (tmp_path / name).write_bytes(b"\x00")
        files.append(str(tmp_path / name))
    with pytest.raises(gr.Error, match="No se añadió ninguna nota: a.exe.*; b.md"):
        make_app().upload(files, replace=False)
    assert warnings_seen == []


def test_a_bad_file_beside_a_good_one_is_one_warning(make_app, tmp_path, warnings_seen):
    (tmp_path / "binario.md").write_bytes(b"\x00\x01")
    (tmp_path / "rag.md").write_text("# RAG\n\nRecupera y genera.\n", encoding="utf-8")
    status = make_app().upload(
        [str(tmp_path / "binario.md"), str(tmp_path / "rag.md")], replace=False
    )
    assert status.startswith("Añadidas: rag.md.") and "binario" not in status
    assert len(warnings_seen) == 1 and "binario.md" in warnings_seen[0]


# -- 9. one unit for latencies ------------------------------------------------------------


def test_the_grid_and_the_report_show_latencies_in_seconds_alike():
    results = json.loads((experiments_desk.PUBLISHED / "results.json").read_text())
    headers, rows = results_table(results)
    assert "primer token (s)" in headers and "total (s)" in headers
    assert not any(header.endswith("_ms") for header in headers)
    report = render_report(results, plots={})
    assert "| primer token (s) | total (s) |" in report
    for row, cell in zip(rows, results["cells"]):
        values = dict(zip(headers, row))
        seconds = cell["metrics"]["total_ms"]["mean"] / 1000
        assert values["total (s)"].startswith(f"{seconds:.2f}")
        line = next(
            line
            for line in report.splitlines()
            if line.startswith(f"| {cell['strategy']} | {cell['model']} |")
            and values["total (s)"] in line
        )
        assert values["primer token (s)"] in line  # the same cell, the same numbers
