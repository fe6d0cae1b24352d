"""Notebooks in the app (assistant/web/callbacks.py StudyApp): switching makes every tab
work on the chosen folder (its index, deck and conversation), keeps the chat's model
loaded, and a folder that cannot be opened leaves the notebook in use answering."""

from __future__ import annotations

import shutil

import gradio as gr
import pytest

import app as study_app
from assistant import generators
from assistant.answer import Assistant, AssistantConfig
from assistant.web.chat_state import ChatSession
from index.store import build_index
from tests.fakes import (
    OverlapChecker,
    OverlapSelector,
    ScriptedGenerator,
    open_policy,
    writes_every_form,
)
from tests.test_app import SETTINGS, ask
from tests.test_notebooks import CHEMISTRY, HISTORY, _folder

ANSWER = "La respuesta está en las notas [1]."


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The chat's model as the app gets it (generators.get_generator, cached process-wide),
    a scripted one; each load is recorded."""
    made: list[str] = []

    def load(adapter, precision):
        made.append("gemma-270m")
        return ScriptedGenerator(ANSWER)

    monkeypatch.setattr(generators, "_loaded", {})
    monkeypatch.setitem(generators.GENERATORS, "gemma-270m", load)
    return made


def _factory(index, settings):
    config = AssistantConfig(
        evidence=writes_every_form(),
        strategy=settings.strategy,
        passages=settings.passages,
        abstention=open_policy(),
    )
    generator = generators.get_generator(settings.model, adapter=settings.adapter)
    return Assistant(index, generator, OverlapChecker(), config, selector=OverlapSelector())


@pytest.fixture
def two(tmp_path, monkeypatch, fake_embedder, fake_config, loads):
    """The app started on a history folder, with a chemistry folder beside it; its own
    data folder (registry, indexes, decks)."""
    monkeypatch.setenv("STUDY_ASSISTANT_CACHE", str(tmp_path / "data"))
    history = _folder(tmp_path, "historia", HISTORY)
    chemistry = _folder(tmp_path, "quimica", CHEMISTRY)
    build_index(history, tmp_path / "index", index_config=fake_config)
    app = study_app.StudyApp(
        history,
        tmp_path / "index",
        _factory,
        experiments_dir=tmp_path / "experiments",
        make_checker=OverlapChecker,
        study_dir=tmp_path / "study",
        chat_dir=tmp_path / "chat",
    )
    return app, history, chemistry


def _sources(app) -> set[str]:
    return {chunk.source for chunk in app.index.chunks}


def _cards(app) -> set[str]:
    with app.study._deck() as deck:
        return {row.card.source for row in deck.cards()}


def test_the_folder_the_app_starts_on_is_a_notebook(two):
    app, history, _ = two
    assert app.notebook.name == "historia" and app.notebook.notes_dir == history.resolve()
    selector, folder_line, _ = app.notebook_view()
    assert selector["value"] == "historia" and selector["choices"] == ["notas", "historia"]
    assert str(history) in folder_line
    # Listed while the app runs, not written: a temporary folder never stays in the list.
    assert not app.notebooks.path.exists()
    app.rename_notebook("Historia moderna", {})  # a name of its own keeps it
    assert app.notebooks.get("Historia moderna").notes_dir == history.resolve()


def test_switching_changes_every_tab_and_keeps_the_model(two, loads):
    app, history, chemistry = two
    session = ChatSession()
    _, chat, session, _ = ask(app, "¿Qué pasó en la Bastilla?", session, SETTINGS)[-1]
    first_deck = app.study.deck_path
    assert loads == ["gemma-270m"] and _cards(app) == {"historia.md"}
    saved = app.saved_chat(session, {})
    header = app.models.line()

    status = app.create_notebook(str(chemistry), "química")[0]
    assert "Cuaderno «química»" in status and "Tarjetas:" in status
    assert app.notebook.name == "química" and _sources(app) == {"quimica.md"}
    assert _cards(app) == {"quimica.md"} and app.study.deck_path != first_deck
    assert app.experiments.index_dir == app.notebook.index_dir
    assert app.models.line() == header  # the header's line says nothing new loads
    # Its own conversation: none yet; the question is answered from its notes alone.
    messages, fresh, _ = app.restore_chat(saved)
    assert messages == [] and fresh.exchanges == []
    steps = ask(app, "¿Qué es el enlace covalente?", fresh, SETTINGS)
    assert not any("Cargando el modelo" in str(step[1]) for step in steps)  # still loaded
    answered = steps[-1][2]
    assert {c.citation.source for c in answered.cards} == {"quimica.md"}
    saved = app.saved_chat(answered, saved)
    assert loads == ["gemma-270m"]  # one load, however many notebooks

    app.switch_notebook("historia")
    assert _sources(app) == {"historia.md"} and app.study.deck_path == first_deck
    messages, restored, _ = app.restore_chat(saved)
    assert len(restored.exchanges) == 1 and restored.exchanges[0].question.startswith("¿Qué pasó")
    assert loads == ["gemma-270m"]


def test_a_folder_that_cannot_be_opened_leaves_the_notebook_in_use(two, monkeypatch):
    app, _, chemistry = two
    app.notebooks.add("química", chemistry)
    shutil.rmtree(chemistry)
    with pytest.raises(gr.Error, match="quimica"):
        app.switch_notebook("química")
    assert app.notebook.name == "historia" and _sources(app) == {"historia.md"}
    _, _, session, _ = ask(app, "¿Qué pasó en la Bastilla?", ChatSession(), SETTINGS)[-1]
    assert {c.citation.source for c in session.cards} == {"historia.md"}
    with pytest.raises(gr.Error, match="no hay ningún cuaderno .*física"):
        app.switch_notebook("física")


def test_rename_keeps_the_conversation_and_remove_opens_the_default(two):
    app, history, chemistry = two
    app.create_notebook(str(chemistry), "")  # named after its folder
    assert app.notebook.name == "quimica"
    saved = {"cuadernos": {"quimica": {"version": 1, "exchanges": []}}}
    status, _, saved = app.rename_notebook("Química orgánica", saved)
    assert app.notebook.name == "Química orgánica" and "renombrado" in status
    assert list(saved["cuadernos"]) == ["Química orgánica"]
    before = sorted(p.name for p in chemistry.rglob("*"))
    status = app.remove_notebook()
    assert "quitado de la lista" in status and app.notebook.name == "notas"
    assert sorted(p.name for p in chemistry.rglob("*")) == before
    assert "Química orgánica" not in app.notebooks.names()
    with pytest.raises(gr.Error, match="no se quita"):
        app.remove_notebook()


def test_everywhere_answers_from_every_notebook_and_names_it(two):
    app, _, chemistry = two
    app.notebooks.add("química", chemistry)
    for question, notebook, source in (
        ("¿Qué es el enlace covalente?", "química", "quimica.md"),
        ("¿Qué pasó en la Bastilla?", "historia", "historia.md"),
    ):
        steps = list(app.ask(question, ChatSession(), *SETTINGS, True))
        cards = steps[-1][2].cards
        assert {(c.citation.notebook, c.citation.source) for c in cards} == {(notebook, source)}
        assert f"{notebook} › {source}" in steps[-1][3]  # the sources panel names it
    merged = app.everything()
    assert {c.notebook for c in merged.chunks} == {"notas", "historia", "química"}
    assert all(c.id.startswith(f"{c.notebook}:") for c in merged.chunks)
    assert _sources(app) == {"historia.md"}  # the notebook in use is as it was


def test_a_tag_chosen_in_the_chat_filters_like_one_in_the_question(two, monkeypatch):
    app, _, _ = two
    assert app.tags_view()["choices"] == []  # no note of this folder has tags
    steps = list(app.ask("¿Qué pasó en la Bastilla?", ChatSession(), *SETTINGS, False, ["nlp"]))
    _, chat, session, _ = steps[-1]
    assert "ninguna nota tiene la etiqueta #nlp" in chat[-1]["content"]
    typed = list(app.ask("¿Qué pasó en la Bastilla? #nlp", ChatSession(), *SETTINGS))
    assert typed[-1][1][-1]["content"] == chat[-1]["content"]
