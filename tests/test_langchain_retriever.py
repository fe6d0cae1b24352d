"""index.langchain.NotesRetriever: the project's search behind LangChain's retriever API,
run through invoke and batch over a small index built with the fake embedder."""

from __future__ import annotations

import json

import pytest
from langchain_core.documents import Document

from assistant.cli.main import main
from corpus.errors import AssistantError, SettingsError
from index.errors import IndexNotBuiltError
from index.langchain import NotesRetriever
from index.store import NotesIndex, build_index

NOTES = {
    "atencion.md": (
        "# Atención\n\n"
        "## Self-attention\n\n"
        "Cada token pondera a todos los demás de la secuencia con pesos softmax sobre "
        "productos escalares de consultas y claves.\n\n"
        "## Multi-head\n\n"
        "Varias cabezas de atención miran subespacios distintos y se concatenan al final.\n"
    ),
    "lora.md": (
        "# LoRA\n\n"
        "## Idea\n\n"
        "LoRA congela los pesos del modelo y entrena dos matrices de rango bajo cuyo "
        "producto se suma a la capa original.\n\n"
        "## Ventajas\n\n"
        "Entrena pocos parámetros, ocupa poca memoria y el adaptador pesa unos megabytes.\n"
    ),
    "tokenizacion.md": (
        "# Tokenización\n\n"
        "BPE une los pares de símbolos más frecuentes hasta llegar al tamaño de vocabulario "
        "pedido; las palabras raras se parten en subpalabras.\n"
    ),
}

QUESTIONS = ["¿Qué es LoRA?", "¿Cómo funciona la atención multi-head?", "subpalabras BPE"]

METADATA_TYPES = {
    "source": str,
    "heading": str,
    "chunk_id": str,
    "start": int,
    "end": int,
    "score": float,
}


@pytest.fixture
def index_dir(tmp_path, fake_embedder, fake_config):
    notes = tmp_path / "notes"
    notes.mkdir()
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    target = tmp_path / "index"
    build_index(notes, target, index_config=fake_config)
    return target


def _cli_search(index_dir, question: str, k: int, capsys) -> list[dict]:
    capsys.readouterr()
    argv = ["search", "--index", str(index_dir), "--k", str(k), "--json", question]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_documents_carry_the_chunk_text_and_json_metadata(index_dir):
    documents = NotesRetriever.from_index(index_dir, k=3).invoke(QUESTIONS[0])
    assert len(documents) == 3
    chunks = {chunk.id: chunk for chunk in NotesIndex.load(index_dir).chunks}
    for document in documents:
        assert isinstance(document, Document)
        assert set(document.metadata) == set(METADATA_TYPES)
        for key, kind in METADATA_TYPES.items():
            assert type(document.metadata[key]) is kind, key
        chunk = chunks[document.metadata["chunk_id"]]
        assert document.page_content == chunk.text
        assert (document.metadata["start"], document.metadata["end"]) == (chunk.start, chunk.end)
        json.dumps(document.metadata)  # raises on anything JSON cannot hold (numpy floats)
    scores = [document.metadata["score"] for document in documents]
    assert scores == sorted(scores, reverse=True)


def test_a_chunks_own_text_retrieves_it_first(index_dir):
    chunks = NotesIndex.load(index_dir).chunks
    assert len(chunks) >= 5
    results = NotesRetriever.from_index(index_dir, k=1).batch([chunk.text for chunk in chunks])
    assert [documents[0].metadata["chunk_id"] for documents in results] == [c.id for c in chunks]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_results_are_the_cli_searchs_hits_in_its_order(index_dir, k, capsys):
    retriever = NotesRetriever.from_index(index_dir, k=k)
    for question, documents in zip(QUESTIONS, retriever.batch(QUESTIONS), strict=True):
        expected = _cli_search(index_dir, question, k, capsys)
        assert [hit["chunk_id"] for hit in expected] == [d.metadata["chunk_id"] for d in documents]
        assert [{**d.metadata, "text": d.page_content} for d in documents] == [
            {**hit, "start": d.metadata["start"], "end": d.metadata["end"]}
            for hit, d in zip(expected, documents)
        ]
        assert retriever.invoke(question) == documents


def test_k_is_honored_and_capped_by_the_number_of_chunks(index_dir):
    n_chunks = len(NotesIndex.load(index_dir).chunks)
    for k in (1, 2, 4):
        assert len(NotesRetriever.from_index(index_dir, k=k).invoke("LoRA")) == k
    everything = NotesRetriever.from_index(index_dir, k=n_chunks + 10).invoke("atención LoRA BPE")
    assert len(everything) == n_chunks
    assert len({d.metadata["chunk_id"] for d in everything}) == n_chunks


@pytest.mark.parametrize("k", [0, -1, 2.0, "5", True, None])
def test_a_bad_k_is_a_settings_error_naming_it(index_dir, k):
    with pytest.raises(SettingsError, match=rf"^k must be an integer >= 1, got {k!r}$"):
        NotesRetriever.from_index(index_dir, k=k)


def test_a_bad_k_is_refused_when_constructed_directly(index_dir):
    with pytest.raises(ValueError, match="k"):
        NotesRetriever(notes_index=NotesIndex.load(index_dir), k=0)


def test_a_missing_index_is_index_not_built_error(tmp_path):
    with pytest.raises(IndexNotBuiltError, match=r"No hay índice en .*créalo"):
        NotesRetriever.from_index(tmp_path / "nada")


def test_an_empty_question_is_refused_as_the_cli_does(index_dir):
    with pytest.raises(AssistantError, match="vacía"):
        NotesRetriever.from_index(index_dir).invoke("   ")
