"""Notebooks (corpus/notebooks.py, assistant/cli/notebooks.py): the registry, and
``--notebook`` on the CLI's commands; each test has a data folder of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli.main import main
from corpus.files import file_sha256
from corpus.notebooks import DEFAULT_NAME, DEFAULT_NOTES, NotebookError, Notebooks

HISTORY = (
    "# Revolución francesa\n\n## La Bastilla\n\nLa Bastilla es una fortaleza de París que "
    "el pueblo tomó el 14 de julio de 1789.\n"
)
CHEMISTRY = (
    "# Enlaces\n\n## Enlace covalente\n\nEl enlace covalente es la unión de dos átomos que "
    "comparten electrones.\n"
)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """This test's data folder (registry, indexes, decks): never the session's."""
    folder = tmp_path / "data"
    monkeypatch.setenv("STUDY_ASSISTANT_CACHE", str(folder))
    return folder


def _folder(root: Path, name: str, text: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / f"{name}.md").write_text(text, encoding="utf-8")
    return folder


def _index(name: str) -> None:
    """The notebook's index, first built with the fake embedder (the CLI's --embedder
    offers only real ones), then by ``index --notebook``, which keeps the embedder."""
    from index.config import IndexConfig
    from index.store import build_index

    notebook = Notebooks().get(name)
    build_index(notebook.notes_dir, notebook.index_dir, index_config=IndexConfig("fake-hash"))
    assert main(["index", "--notebook", name]) == 0


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): file_sha256(p) for p in folder.rglob("*") if p.is_file()}


def test_the_default_notebook_is_the_projects_notes_and_stays(data_dir):
    notebooks = Notebooks()
    assert notebooks.names() == [DEFAULT_NAME]
    assert notebooks.get(DEFAULT_NAME).notes_dir == DEFAULT_NOTES.resolve()
    with pytest.raises(NotebookError, match="no se quita"):
        notebooks.remove(DEFAULT_NAME)
    with pytest.raises(NotebookError, match="no se renombra"):
        notebooks.rename(DEFAULT_NAME, "otro")


def test_add_rename_remove_persist_in_one_json_file(data_dir, tmp_path):
    history = _folder(tmp_path, "historia", HISTORY)
    Notebooks().add("Historia", history)
    assert Notebooks().get("historia").notes_dir == history.resolve()  # any case finds it
    Notebooks().rename("historia", "Historia moderna")
    assert Notebooks().names() == [DEFAULT_NAME, "Historia moderna"]
    stored = json.loads((data_dir / "notebooks.json").read_text(encoding="utf-8"))
    assert stored == {"Historia moderna": str(history.resolve())}
    removed = Notebooks().remove("historia moderna")
    assert removed.notes_dir == history.resolve()
    assert Notebooks().names() == [DEFAULT_NAME]


@pytest.mark.parametrize(
    "name, folder, message",
    [
        ("", "historia", "nombre de cuaderno no válido"),
        ("a/b", "historia", "nombre de cuaderno no válido"),
        ("Todas", "historia", "reservado"),
        ("notas", "historia", "ya hay un cuaderno"),
        ("nuevo", "no-existe", "no es una carpeta"),
        ("nuevo", "historia/historia.md", "no es una carpeta"),
    ],
)
def test_bad_names_and_folders_are_refused_and_nothing_is_written(
    data_dir, tmp_path, name, folder, message
):
    _folder(tmp_path, "historia", HISTORY)
    with pytest.raises(NotebookError, match=message):
        Notebooks().add(name, tmp_path / folder)
    assert not (data_dir / "notebooks.json").exists()


def test_a_folder_is_one_notebook(data_dir, tmp_path):
    history = _folder(tmp_path, "historia", HISTORY)
    Notebooks().add("historia", history)
    with pytest.raises(NotebookError, match="ya es el cuaderno 'historia'"):
        Notebooks().add("otra", history)
    assert Notebooks().add_folder(history).name == "historia"  # the one it already is
    other = _folder(tmp_path / "historia", "historia", HISTORY)  # same folder name
    assert Notebooks().add_folder(other).name == "historia-2"


def test_a_damaged_registry_is_named_and_left_as_it_is(data_dir, tmp_path):
    data_dir.mkdir()
    registry = data_dir / "notebooks.json"
    registry.write_text("{roto", encoding="utf-8")
    with pytest.raises(NotebookError, match="notebooks.json está dañado"):
        Notebooks().add("historia", _folder(tmp_path, "historia", HISTORY))
    assert registry.read_text(encoding="utf-8") == "{roto"


def test_removing_a_notebook_leaves_its_folder_untouched(data_dir, tmp_path, fake_embedder):
    history = _folder(tmp_path, "historia", HISTORY)
    (history / ".papelera").mkdir()
    (history / ".papelera" / "vieja.md").write_text("# Vieja\n", encoding="utf-8")
    before = _snapshot(history)
    assert main(["notebooks", "add", "historia", str(history)]) == 0
    _index("historia")
    assert main(["cards", "build", "--notebook", "historia"]) == 0
    index_dir, deck = Notebooks().get("historia").index_dir, Notebooks().get("historia").deck_path
    assert main(["notebooks", "remove", "historia"]) == 0
    assert _snapshot(history) == before
    assert index_dir.is_dir() and deck.is_file()  # re-adding the folder finds its reviews
    assert main(["search", "--notebook", "historia", "Bastilla"]) == 2


def test_two_notebooks_never_see_each_others_passages_or_cards(
    data_dir, tmp_path, fake_embedder, capsys
):
    history = _folder(tmp_path, "historia", HISTORY)
    chemistry = _folder(tmp_path, "quimica", CHEMISTRY)
    for name, folder in (("historia", history), ("química", chemistry)):
        assert main(["notebooks", "add", name, str(folder)]) == 0
        _index(name)
        assert main(["cards", "build", "--notebook", name]) == 0
    capsys.readouterr()
    seen = {}
    for name in ("historia", "química"):
        assert main(["search", "--notebook", name, "--k", "10", "--json", "enlace"]) == 0
        sources = {hit["source"] for hit in json.loads(capsys.readouterr().out)}
        assert main(["cards", "list", "--notebook", name, "--json"]) == 0
        cards = json.loads(capsys.readouterr().out)
        assert cards
        seen[name] = (sources, {card["source"] for card in cards})
    assert seen["historia"] == ({"historia.md"}, {"historia.md"})
    assert seen["química"] == ({"quimica.md"}, {"quimica.md"})


def test_notebook_beside_a_path_flag_is_refused_before_any_work(data_dir, tmp_path, capsys):
    history = _folder(tmp_path, "historia", HISTORY)
    assert main(["notebooks", "add", "historia", str(history)]) == 0
    capsys.readouterr()
    assert main(["index", "--notebook", "historia", "--index", str(tmp_path / "i")]) == 2
    assert "quita --index" in capsys.readouterr().err
    assert not (tmp_path / "i").exists()
    assert main(["index", "--notes", str(history)]) == 2
    assert "indica --index o --notebook NOMBRE" in capsys.readouterr().err
    assert main(["search", "--notebook", "geografía", "río"]) == 2
    assert "no hay ningún cuaderno 'geografía'" in capsys.readouterr().err


def test_notebooks_list_prints_each_folder(data_dir, tmp_path, capsys):
    history = _folder(tmp_path, "historia", HISTORY)
    assert main(["notebooks", "add", "historia", str(history)]) == 0
    capsys.readouterr()
    assert main(["notebooks", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(row["name"], row["notes"]) for row in rows] == [
        (DEFAULT_NAME, str(DEFAULT_NOTES.resolve())),
        ("historia", str(history.resolve())),
    ]
    assert rows[1]["index"].startswith(str(data_dir))


def test_todas_is_for_answering_only(data_dir, capsys):
    assert main(["index", "--notebook", "todas"]) == 2
    assert "--notebook todas solo vale para ask y chat" in capsys.readouterr().err


def test_ask_over_every_notebook_names_each_passages_notebook(
    data_dir, tmp_path, fake_embedder, capsys, monkeypatch
):
    from assistant.answer import Assistant, AssistantConfig
    from tests.fakes import OverlapChecker, OverlapSelector, open_policy

    def quoting(args, index):  # the extractive path, with the test's checker and selector
        config = AssistantConfig(strategy="extractive", abstention=open_policy())
        return Assistant(index, None, OverlapChecker(), config, OverlapSelector())

    monkeypatch.setattr("assistant.cli.main._answering_assistant", quoting)
    _index("notas")  # the default notebook too: every index with the fake embedder
    for name, text in (("historia", HISTORY), ("química", CHEMISTRY)):
        folder = _folder(tmp_path, name, text)
        assert main(["notebooks", "add", name, str(folder)]) == 0
        _index(name)
    capsys.readouterr()
    assert main(["ask", "--notebook", "todas", "¿Qué es el enlace covalente?"]) == 0
    out = capsys.readouterr().out
    assert "[1] química › química.md — Enlaces > Enlace covalente" in out
