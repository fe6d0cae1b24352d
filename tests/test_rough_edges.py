"""The app's rough edges of issue 28, each where a test can see it: the settings' words, the
API footer, the experiments tab's model and labels, the sources panel after a quote or an
abstention."""

from __future__ import annotations

import gradio as gr
import pytest

import app as study_app
from assistant.answer import Assistant, AssistantConfig
from assistant.web.chat_state import ChatSession
from eval.experiment.report import _shown, column_label, results_table
from index.store import build_index
from tests.fakes import OverlapChecker, OverlapSelector, ScriptedGenerator, open_policy
from tests.test_app import ANSWER, SETTINGS, ask, fake_factory


@pytest.fixture
def make_app(notes_copy, tmp_path, fake_embedder, fake_config):
    """make_app(script or factory): the app over a copy of the notes, fake models."""
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)

    def make(script=ANSWER, factory=None):
        return study_app.StudyApp(
            notes_copy,
            tmp_path / "index",
            factory or fake_factory(script),
            experiments_dir=tmp_path / "experiments",
            chat_dir=tmp_path / "chat",
        )

    return make


def _components(demo: gr.Blocks) -> list:
    return list(demo.blocks.values())


def _by_label(demo: gr.Blocks, label: str):
    (found,) = [c for c in _components(demo) if getattr(c, "label", None) == label]
    return found


def test_the_lora_setting_says_what_the_adapter_is(make_app):
    demo = study_app.build_ui(make_app())
    labels = [getattr(c, "label", "") or "" for c in _components(demo)]
    assert not any("entrenado con tus notas" in label for label in labels)
    assert "Adaptador LoRA del proyecto (lectura de pasajes en español)" in labels


def test_the_experiments_tab_preselects_the_chats_model(make_app):
    demo = study_app.build_ui(make_app())
    models = _by_label(demo, "Modelos")
    assert models.value == ["gemma-270m+lora"] == [study_app.CHAT_EXPERIMENT_MODEL]


def test_the_api_footer_only_with_api(make_app, monkeypatch):
    seen = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.append(kw["footer_links"]))
    monkeypatch.setattr(gr.Blocks, "queue", lambda self, **kw: self)
    app = make_app()
    study_app.launch(app, "127.0.0.1", 0, block=False)
    study_app.launch(app, "127.0.0.1", 0, block=False, api=True)
    assert seen == [[], ["api"]]
    assert study_app.parse_args(["--api"]).api and not study_app.parse_args([]).api


def test_the_grid_speaks_spanish_and_shows_no_other_machines_paths():
    assert column_label("token_f1") == "F1 de palabras"
    assert column_label("first_token_ms") == "primer token (s)"
    cell = {"strategy": "zero-shot", "model": "gemma-270m+lora", "metrics": {}}
    cell["metrics"] = {"token_f1": {"mean": 0.5, "stderr": 0.1}}
    headers, _ = results_table({"cells": [cell]})
    assert headers == ["estrategia", "modelo", "F1 de palabras"]
    assert _shown("/home/otra/proyecto/assistant/adapters/gemma-270m-reader") == (
        "`assistant/adapters/gemma-270m-reader`"
    )
    assert _shown("/tmp/tmpab12/notes") == "`…/notes`"


def test_a_quoted_sentence_has_one_pair_of_guillemets(make_app):
    quote = "«El Teacher Forcing utiliza la palabra correcta como entrada siguiente.» [1]"
    app = make_app(script=quote)
    *_, panel = ask(app, "¿Qué es Teacher Forcing?", ChatSession(), SETTINGS)[-1]
    assert "Frase: «El Teacher Forcing" in panel and "««" not in panel and "»»" not in panel


def test_an_abstention_opens_no_passage(make_app):
    def abstaining(index, settings):  # no passage is ever similar enough
        config = AssistantConfig(abstention=open_policy(min_similarity=1.0))
        return Assistant(index, ScriptedGenerator(), OverlapChecker(), config, OverlapSelector())

    app = make_app(factory=abstaining)
    _, _, session, panel = ask(app, "¿Qué es Teacher Forcing?", ChatSession(), SETTINGS)[-1]
    exchange = session.exchanges[-1]
    assert exchange.kind == "abstention" and exchange.cards  # its closest passages
    cards = panel.split("<article")[1:]
    assert cards and all(" hidden>" in card.split("\n")[0] for card in cards)  # none opened
    _, _, panel = app.restore_chat(app.saved_chat(session, {}))
    cards = panel.split("<article")[1:]
    assert cards and all(" hidden>" in card.split("\n")[0] for card in cards)


def test_the_study_tab_names_its_deck_and_says_an_export_in_its_box(make_app, monkeypatch):
    app = make_app()
    assert app.deck_line() == f"<small>Mazo del cuaderno «{app.notebook.name}»</small>"
    assert str(app.study.deck_path) not in app.deck_line()
    told = []
    monkeypatch.setattr(gr, "Info", told.append)  # a toast covers the statistics line
    exported = app.study_export("csv")
    assert exported["label"].startswith("Exportadas ") and exported["visible"] and not told


def test_a_graded_answer_is_told_in_plain_words():
    from assistant.study.quiz import Grade
    from assistant.web.card_html import grade_html

    grade = Grade(rating="good", score=0.71, support=0.8, coverage=0.6, supported=True, right=0.9)
    shown = grade_html("una respuesta", grade)
    assert "la veo correcta en un 90% y, además, completa en un 71%" in shown
    assert not any(word in shown for word in ("puntuación", "respaldo", "cobertura"))
