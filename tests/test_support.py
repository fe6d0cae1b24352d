"""The support checker: score shape and range, the unsupported cases against their
supported counterparts, special sentences, caching, and the labeled dev set's schema.

Fast tests use the deterministic HashEmbedder; those marked slow load the real e5.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from assistant.prompts import ABSTAIN
from assistant.support import (
    SupportChecker,
    SupportConfig,
    foreign_names,
    has_negation,
    numbers,
    passage_units,
)
from corpus.chunking import chunk_notes
from corpus.loader import load_notes
from tests.conftest import NOTES, ROOT
from tests.fakes import HashEmbedder

SUPPORT_DEV = ROOT / "eval" / "data" / "support_dev.jsonl"

MLM = """## 39. Describí el proceso de *MLM* (Masked Language Modeling).

1. Enmascaramiento:

   - Se selecciona aleatoriamente un 15% de los tokens de la secuencia y se reemplazan por **[MASK]**.

2. Predicción:

   - El modelo predice el token original en las posiciones enmascaradas.
"""
ENCODER = """## 14. Explica la arquitectura *Transformers*.

La arquitectura **Transformer** está compuesta por bloques de *encoders* y *decoders*.

1. **Encoder:**
   - Procesa la secuencia de entrada.
2. **Decoder:**
   - Genera la salida.
"""
BERT = """## 10. ¿Qué es un MLM (*Masked Language Model*)?

Un **MLM (Masked Language Model)** es una técnica de preentrenamiento donde ciertas palabras en una secuencia se enmascaran y el modelo debe predecirlas.

- **BERT** usa MLM para aprender representaciones bidireccionales del lenguaje.
"""
TEACHER = """## Ventajas

- **Eficiencia**: Teacher Forcing acelera el entrenamiento al guiar al modelo con la respuesta correcta en cada paso.
"""

# (passage, supported sentence, unsupported variant, kind): the variant must score lower.
PAIRS = [
    (
        BERT,
        "BERT usa MLM para aprender representaciones bidireccionales del lenguaje.",
        "BERT no usa MLM para aprender representaciones bidireccionales del lenguaje.",
        "negation",
    ),
    (
        TEACHER,
        "Teacher Forcing acelera el entrenamiento al guiar al modelo con la respuesta correcta.",
        "Teacher Forcing nunca acelera el entrenamiento al guiar al modelo con la respuesta correcta.",
        "negation",
    ),
    (
        MLM,
        "Se selecciona aleatoriamente un 15% de los tokens de la secuencia.",
        "Se selecciona aleatoriamente un 25% de los tokens de la secuencia.",
        "changed_number",
    ),
    (
        MLM,
        "Se selecciona aleatoriamente un 15% de los tokens.",
        "Se seleccionan aleatoriamente dos tokens de la secuencia.",
        "changed_number",
    ),
    (
        BERT,
        "BERT usa MLM para aprender representaciones bidireccionales del lenguaje.",
        "GPT usa MLM para aprender representaciones bidireccionales del lenguaje.",
        "swapped_term",
    ),
    (
        ENCODER,
        "El encoder procesa la secuencia de entrada.",
        "El decoder procesa la secuencia de entrada.",
        "swapped_term",
    ),
    (
        TEACHER,
        "Teacher Forcing acelera el entrenamiento al guiar al modelo.",
        "Teacher Forcing acelera la inferencia al guiar al modelo.",
        "swapped_term",
    ),
    (
        MLM,
        "El modelo predice el token original en las posiciones enmascaradas.",
        "La paella valenciana lleva pollo, conejo y judía verde.",
        "off_topic",
    ),
    (
        BERT,
        "Un MLM es una técnica de preentrenamiento donde se enmascaran palabras.",
        "El MLM fue inventado por Google en 2018 para traducir documentos legales.",
        "invented",
    ),
]


@pytest.fixture
def checker(tmp_path) -> SupportChecker:
    return SupportChecker(HashEmbedder(), cache_dir=tmp_path)


@pytest.fixture(scope="module")
def e5_checker(tmp_path_factory) -> SupportChecker:
    from index.embedders import get_embedder

    return SupportChecker(get_embedder("e5-small"), cache_dir=tmp_path_factory.mktemp("support"))


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("threshold", 1.5),
        ("semantic_weight", -0.1),
        ("swap_penalty", 2.0),
        ("cosine_floor", 0.99),
        ("sentence_role", "document"),
        ("min_claim_words", 0),
        ("contrasts", (("encoder",),)),
    ],
)
def test_bad_config_values_are_rejected_by_name(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        replace(SupportConfig(), **{field: value})


# -- shape and range -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentences, passages",
    [
        (["El modelo predice el token original."], [MLM]),
        (["Sí.", "El encoder procesa la entrada.", ABSTAIN, ""], [MLM, ENCODER, BERT]),
        (["Una frase sin relación con nada de esto."] * 3, [ENCODER, "", TEACHER]),
        ([], [MLM]),
        (["El encoder procesa la entrada."], []),
        ([], []),
    ],
)
def test_scores_have_one_row_per_sentence_one_column_per_passage_in_0_1(
    checker, sentences, passages
):
    scores = checker.scores(sentences, passages)
    assert scores.shape == (len(sentences), len(passages))
    assert np.all((scores >= 0) & (scores <= 1))


def test_empty_passage_and_empty_sentence_score_zero(checker):
    scores = checker.scores(["El encoder procesa la secuencia de entrada.", "  "], [ENCODER, ""])
    assert scores[0, 1] == 0 and not scores[1].any()


# -- supported vs unsupported ----------------------------------------------------------------


@pytest.mark.parametrize("passage", [MLM, ENCODER, BERT, TEACHER])
def test_every_unit_of_a_passage_is_supported_verbatim(checker, passage):
    units = list(passage_units(passage))
    scores = checker.scores(units, [passage])
    assert all(checker.supported(s) for s in scores[:, 0]), list(zip(units, scores[:, 0]))


@pytest.mark.slow
@pytest.mark.parametrize("passage", [MLM, ENCODER, BERT, TEACHER])
def test_verbatim_sentences_of_a_passage_are_supported_with_e5(e5_checker, passage):
    sentences = [u.split(": ", 1)[-1] for u in passage_units(passage)]  # without list labels
    scores = e5_checker.scores(sentences, [passage])
    assert all(e5_checker.supported(s) for s in scores[:, 0]), list(zip(sentences, scores[:, 0]))


# The fake embedder is not calibrated like e5, so fast tests compare; slow ones threshold.
@pytest.mark.parametrize("passage, good, bad, kind", PAIRS, ids=[p[3] for p in PAIRS])
def test_unsupported_variant_scores_below_its_supported_counterpart(
    checker, passage, good, bad, kind
):
    good_score, bad_score = checker.scores([good, bad], [passage])[:, 0]
    assert bad_score < good_score


@pytest.mark.slow
@pytest.mark.parametrize("passage, good, bad, kind", PAIRS, ids=[p[3] for p in PAIRS])
def test_unsupported_variant_scores_below_its_counterpart_with_e5(
    e5_checker, passage, good, bad, kind
):
    good_score, bad_score = e5_checker.scores([good, bad], [passage])[:, 0]
    assert e5_checker.supported(good_score)
    assert not e5_checker.supported(bad_score), (bad, bad_score)


@pytest.mark.slow
def test_a_distractor_passage_does_not_lower_a_supported_sentence_with_e5(e5_checker):
    sentence = "El modelo predice el token original en las posiciones enmascaradas."
    scores = e5_checker.scores([sentence], [ENCODER, MLM])
    assert scores[0].argmax() == 1 and e5_checker.supported(scores[0, 1])


# -- special sentences -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "abstention", [ABSTAIN, "no encuentro esto en tus notas", "NO ENCUENTRO ESTO EN TUS NOTAS."]
)
def test_the_abstention_sentence_is_never_flagged(checker, abstention):
    scores = checker.scores([abstention], [MLM, ENCODER])
    assert np.all(scores == 1.0) and checker.supported(scores[0, 0])


@pytest.mark.parametrize(
    "sentences, inherits_from",
    [
        (["Sí.", "El encoder procesa la secuencia de entrada."], 1),
        (["La paella lleva arroz y conejo.", "Exacto."], 0),
        (["Sí.", "El decoder genera la salida.", "Claro."], 1),
    ],
)
def test_a_bare_assent_takes_the_score_of_the_claim_beside_it(checker, sentences, inherits_from):
    scores = checker.scores(sentences, [ENCODER])
    for i in range(len(sentences)):
        assert scores[i, 0] == pytest.approx(scores[inherits_from, 0])


def test_a_bare_assent_alone_is_not_supported(checker):
    assert not checker.supported(checker.scores(["Sí."], [ENCODER])[0, 0])


# -- text pieces -------------------------------------------------------------------------------


def test_units_read_list_items_with_their_label_and_skip_headings():
    units = passage_units(ENCODER)
    assert "Encoder: Procesa la secuencia de entrada." in units
    assert "Decoder: Genera la salida." in units
    assert not any("Explica" in u for u in units)


def test_units_read_table_cells_with_row_and_column_names():
    table = (
        "| Característica | Transformer | RNN |\n| --- | --- | --- |\n"
        "| Paralelización | Alta | Baja |\n"
    )
    assert passage_units(table) == (
        "Paralelización — Transformer: Alta",
        "Paralelización — RNN: Baja",
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("un 15% de los tokens", {"15"}),
        ("Perro: 0,85 y 0.10", {"0.85", "0.10"}),
        ("dos capas LSTM", {"2"}),
        ("Word2Vec, T5 y LLaMA2", set()),
        ("GPT-3", {"3"}),
        ("1. Primero\n2. Segundo", set()),
        ("de 7B a 70B parámetros", {"7", "70"}),
    ],
)
def test_numbers(text, expected):
    assert numbers(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("BERT no usa MLM", True),
        ("nunca se exponen", True),
        ("sin actualizar", True),
        ("En lugar de ajustar todo", True),
        ("Evita que los errores se propaguen", True),
        ("si la predicción es correcta o no", False),
        ("BERT usa MLM", False),
        ("Noé y la nota", False),
    ],
)
def test_has_negation(text, expected):
    assert has_negation(text) is expected


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("GPT usa MLM.", ("gpt",)),
        ("BERT usa MLM.", ()),
        ("Lo propuso Google en 2018.", ("google",)),
        ("Se usa en Transformers.", ()),
        ("Se usa en RNNs.", ("rnn",)),
        ("Los encoders de BERT.", ()),
    ],
)
def test_foreign_names(sentence, expected):
    assert foreign_names(sentence, BERT + "\nUn Transformer con encoder.") == expected


# -- caching ---------------------------------------------------------------------------------


def test_passage_units_are_embedded_once_in_memory_and_on_disk(tmp_path):
    fake = HashEmbedder()
    first = SupportChecker(fake, cache_dir=tmp_path)
    sentences = ["El encoder procesa la secuencia de entrada.", "El decoder genera la salida."]
    first.scores(sentences, [ENCODER, MLM])
    units = len(passage_units(ENCODER)) + len(passage_units(MLM))
    assert fake.passages_embedded == units + len(sentences)

    first.scores(sentences, [ENCODER, MLM])  # units from memory
    assert fake.passages_embedded == units + 2 * len(sentences)

    again = SupportChecker(fake, cache_dir=tmp_path)  # a new process: units from disk
    scores = again.scores(sentences, [ENCODER, MLM])
    assert fake.passages_embedded == units + 3 * len(sentences)
    assert np.allclose(scores, first.scores(sentences, [ENCODER, MLM]))


# -- the labeled dev set -----------------------------------------------------------------------


def _dev_rows() -> list[dict]:
    with open(SUPPORT_DEV, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_support_dev_set_schema_and_balance():
    rows = _dev_rows()
    kinds = Counter(row["kind"] for row in rows)
    supported = sum(row["supported"] for row in rows)
    assert len(rows) >= 200 and supported == len(rows) - supported
    assert len({row["id"] for row in rows}) == len(rows)
    assert set(kinds) == {
        "verbatim",
        "paraphrase",
        "negation",
        "swapped_term",
        "changed_number",
        "off_topic",
        "invented",
    }
    for row in rows:
        assert set(row) == {"id", "sentence", "passages", "supported", "kind", "source", "section"}
        assert row["supported"] == (row["kind"] in ("verbatim", "paraphrase")), row["id"]
        assert 1 <= len(row["passages"]) <= 3, row["id"]
    assert len({row["section"] for row in rows}) >= 60
    assert any(len(row["passages"]) > 1 for row in rows if not row["supported"])


def test_support_dev_passages_are_the_notes_chunks_of_the_rows_section():
    chunks = chunk_notes(load_notes(NOTES).notes)
    by_text = {chunk.text: chunk for chunk in chunks}
    for row in _dev_rows():
        found = [by_text.get(text) for text in row["passages"]]
        assert all(found), f"{row['id']}: a passage is not a chunk of the notes"
        own = [c for c in found if (c.section, c.source) == (row["section"], row["source"])]
        assert own, f"{row['id']}: none of its passages is from its own section"


def test_the_language_data_file_reads_as_words():
    # YAML reads a bare `no` as false: every cue, contrast term and number must be text.
    from assistant.support import DEFAULT_CONTRASTS, NEGATION_CUES, NUMBER_WORDS

    assert "no" in NEGATION_CUES and "en lugar de" in NEGATION_CUES
    assert all(isinstance(w, str) for group in DEFAULT_CONTRASTS for w in group)
    assert NUMBER_WORDS["doce"] == "12" and all(isinstance(v, str) for v in NUMBER_WORDS.values())


@pytest.mark.parametrize(
    "sentence, claims",
    [
        ("LoRA congela los pesos del modelo.", ["LoRA congela los pesos del modelo."]),
        (
            "Rápida convergencia, reducción del error acumulado y discrepancia de exposición.",
            ["Rápida convergencia", "reducción del error acumulado", "discrepancia de exposición."],
        ),
        (  # a clause of one content word joins the one before it
            "El modelo predice el token y acierta.",
            ["El modelo predice el token y acierta."],
        ),
        (  # a short opening joins the next clause
            "En 1815, el Congreso de Viena fijó la frontera.",
            ["En 1815, el Congreso de Viena fijó la frontera."],
        ),
        ("Sí.", ["Sí."]),
    ],
)
def test_claim_spans_cut_a_sentence_into_its_claims(sentence, claims):
    from assistant.support import claim_spans, sentence_claims

    assert [sentence[a:b] for a, b in claim_spans(sentence)] == claims
    assert sentence_claims(sentence) == (claims if len(claims) > 1 else [])


def test_a_formula_in_a_unit_keeps_its_tex_and_prices_stay_text():
    """The chat typesets a quoted formula (KaTeX): its TeX must reach it whole, d_k too."""
    passage = (
        "La atención es $$\\text{softmax}\\left(\\frac{QK^T}{\\sqrt{d_k}}\\right)V$$ según el "
        "**artículo**.\nCuesta 5 $ y *nada* más, con $n-1$ palabras."
    )
    assert passage_units(passage) == (
        "La atención es $$\\text{softmax}\\left(\\frac{QK^T}{\\sqrt{d_k}}\\right)V$$ según el "
        "artículo.",
        "Cuesta 5 $ y nada más, con $n-1$ palabras.",
    )
