"""The app as a student lives in it (issue 14), without a browser: passages as rendered,
sanitized Markdown; one line per abstention; one message per problem; one unit for
latencies."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import gradio as gr
import pytest

import app as study_app
from assistant.abstain import AbstentionPolicy
from assistant.answer import QUOTED_INSTEAD, WITHDRAWN, Assistant, AssistantConfig
from assistant.evidence import sentence_spans
from assistant.markdown_html import is_markdown, markdown_html, passage_html
from assistant.prompts import ABSTAIN
from assistant.study.card_html import passage_html as study_passage_html
from assistant.study.cards import build_cards
from assistant.study.session import Passage, card_passage
from corpus.chunking import chunk_notes
from corpus.loader import load_notes
from eval.experiment_report import render_report, results_table
from index.store import build_index
from tests.conftest import NOTES
from tests.fakes import OverlapChecker, ScriptedGenerator
from tests.test_app import QUESTION, ask, fake_factory, never_run


@pytest.fixture
def make_app(notes_copy, tmp_path, fake_embedder, fake_config):
    index_dir = tmp_path / "index"
    build_index(notes_copy, index_dir, index_config=fake_config)

    def make(factory=None, run_experiment=never_run):
        return study_app.StudyApp(
            notes_copy,
            index_dir,
            factory or fake_factory(),
            run_experiment,
            experiments_dir=tmp_path / "experiments",
        )

    return make


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
        for start, end in sentence_spans(chunk.text):
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


# -- 5. an abstention says why once -------------------------------------------------------


def policy_factory(script, policy):
    def make(index, settings):
        config = AssistantConfig(strategy=settings.strategy, abstention=policy)
        return Assistant(index, ScriptedGenerator(script), OverlapChecker(), config)

    return make


UNSUPPORTED = "Los pingüinos vuelan hasta Marte cada martes [1]."


def test_a_withdrawn_draft_is_one_line(make_app):
    never_quote = AbstentionPolicy(
        0.0, 0.0, abstain_on_unknown_names=False, fallback_min_similarity=1.0
    )
    app = make_app(policy_factory(UNSUPPORTED, never_quote))
    _, chat, session, _ = ask(app, QUESTION, study_app.ChatSession())[-1]
    reply = chat[-1]["content"]
    assert "borrador descartado" in reply
    assert reply.count("ninguna") == 1 and "nota:" not in reply


def test_a_quoted_fallback_is_one_note(make_app):
    always_quote = AbstentionPolicy(
        0.0,
        0.0,
        abstain_on_unknown_names=False,
        fallback_min_similarity=0.0,
        fallback_min_coverage=0.0,
    )
    app = make_app(policy_factory(UNSUPPORTED, always_quote))
    _, chat, _, _ = ask(app, QUESTION, study_app.ChatSession())[-1]
    reply = chat[-1]["content"]
    assert reply.count("nota:") == 1
    assert f"nota: {WITHDRAWN}; {QUOTED_INSTEAD}" in reply


def test_a_draft_that_abstains_by_itself_is_not_called_unsupported(make_app):
    app = make_app(fake_factory(script=f"{ABSTAIN} Pero quizá sea otra cosa."))
    _, chat, _, _ = ask(app, QUESTION, study_app.ChatSession())[-1]
    reply = chat[-1]["content"]
    assert ABSTAIN in reply and "borrador descartado" not in reply and "ninguna" not in reply


def test_other_remarks_are_kept(make_app):
    app = make_app()
    _, chat, _, _ = ask(app, "¿Qué es Teacher Forcing? " + "x" * 1200, study_app.ChatSession())[-1]
    assert chat[-1]["content"].count("nota: la pregunta tenía") == 1


# -- 8. one problem, one message ----------------------------------------------------------


@pytest.fixture
def warnings_seen(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(study_app, "_warn", seen.append)
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
    results = json.loads((study_app.PUBLISHED_EXPERIMENT / "results.json").read_text())
    headers, rows = results_table(results)
    assert "first_token (s)" in headers and "total (s)" in headers
    assert not any(header.endswith("_ms") for header in headers)
    report = render_report(results, plots={})
    assert "| first_token (s) | total (s) |" in report
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
        assert values["first_token (s)"] in line  # the same cell, the same numbers
