"""Integration tests with the real bundled embedders on the default notes (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.questions import load_questions
from eval.retrieval import evaluate_retrieval
from index.embedders import get_embedder
from index.store import NotesIndex, build_index
from tests.conftest import DEV_SET, NOTES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def e5_index(tmp_path_factory) -> NotesIndex:
    folder = tmp_path_factory.mktemp("e5") / "index"
    build_index(NOTES, folder)  # defaults: e5-small, fused retrieval
    return NotesIndex.load(folder)


@pytest.mark.parametrize("name", ["e5-small", "minilm"])
def test_embedders_give_normalized_vectors_that_rank_paraphrases_first(name):
    embedder = get_embedder(name)
    passages = embedder.embed_passages(
        ["El mecanismo de atención pondera los tokens.", "La receta lleva harina y huevos."]
    )
    assert passages.shape == (2, embedder.dim) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    query = embedder.embed_query("¿Qué hace la atención con los tokens?")
    assert float(passages[0] @ query) > float(passages[1] @ query)


@pytest.mark.parametrize("retriever", ["dense", "fused"])
def test_a_chunks_own_text_retrieves_it_first_with_e5(e5_index, retriever):
    search = e5_index.retriever(retriever)
    misses = [
        chunk.heading
        for row, chunk in enumerate(e5_index.chunks)
        if search.rank(chunk.embed_text(), 1)[0][0] != row
    ]
    assert misses == []


def test_default_retriever_finds_the_evidence_for_dev_questions(e5_index):
    metrics = evaluate_retrieval(e5_index, load_questions(DEV_SET))
    assert metrics["n"] >= 60
    assert metrics["recall@5"] >= 0.9, metrics
    assert metrics["no_evidence_in_index"] == []


def test_accents_and_case_do_not_matter_to_bm25_and_barely_to_fusion(e5_index):
    accented, plain = "¿Qué es el mecanismo de atención?", "que es el MECANISMO de atencion"

    def ids(hits):
        return [h.chunk.id for h in hits]

    assert ids(e5_index.search(accented, 5, "bm25")) == ids(e5_index.search(plain, 5, "bm25"))
    # e5 itself sees the difference, so the fused ranking may move a little.
    assert ids(e5_index.search(accented, 1))[0] in ids(e5_index.search(plain, 3))
