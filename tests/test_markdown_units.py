"""A passage's units (``corpus.markdown.read_units``): what the support checker, the
selector and the quoter compare an answer sentence with, each read from an exact span of
its passage. Golden texts on hand-written passages, properties over the tracked notes."""

from __future__ import annotations

import pytest

from assistant.support import passage_units
from corpus.chunking import chunk_note
from corpus.config import ChunkConfig
from corpus.markdown import HEADING_MARKS, read_units, strip_markup_outside_math
from corpus.records import Note
from corpus.text import content_words
from tests.conftest import NOTES

# (passage, [(unit text, kind, passage[start:end])]): the texts are what passage_units
# returned before the walk moved to corpus/markdown.py, byte for byte.
GOLDEN = {
    "label": (
        "## 2. ¿Qué es LoRA?\nLoRA adapta un modelo grande. Entrena **pocas** matrices.\n\n"
        "**Ventajas de LoRA:**\n- Menor uso de memoria.\n- Se entrena rápido.\n"
        "  Desventajas:\n  - Exposición al *sesgo*\n",
        [
            ("LoRA adapta un modelo grande.", "sentence", "LoRA adapta un modelo grande."),
            ("Entrena pocas matrices.", "sentence", "Entrena **pocas** matrices."),
            ("Ventajas de LoRA: Menor uso de memoria.", "item", "Menor uso de memoria."),
            ("Ventajas de LoRA: Se entrena rápido.", "item", "Se entrena rápido."),
            ("Desventajas: Exposición al sesgo", "item", "Exposición al *sesgo"),
        ],
    ),
    "table": (
        "| Característica | Transformer | RNN |\n| --- | --- | --- |\n"
        "| **Paralelización** | Alta | Baja |\n|Memoria|  O(n²) |O(n)|\n",
        [
            ("Paralelización — Transformer: Alta", "cell", "Alta"),
            ("Paralelización — RNN: Baja", "cell", "Baja"),
            ("Memoria — Transformer: O(n²)", "cell", "O(n²)"),
            ("Memoria — RNN: O(n)", "cell", "O(n)"),
        ],
    ),
    "fence": (
        "Un ejemplo en Python:\n\n```python\n# no es un título\n"
        "model = Bert.from_pretrained('bert')\n```\nTras el bloque, `model` está listo.\n",
        [
            ("# no es un título", "code", "# no es un título"),
            (
                "model = Bert.from_pretrained('bert')",
                "code",
                "model = Bert.from_pretrained('bert')",
            ),
            (
                "Tras el bloque, model está listo.",
                "sentence",
                "Tras el bloque, `model` está listo.",
            ),
        ],
    ),
    "formula": (
        "# Atención\nLa atención es $\\text{softmax}(QK^T/\\sqrt{d_k})V$ según el "
        "**artículo**. Cuesta 5 $ y más.\r\n1. Con $$n-1$$ palabras.\n",
        [
            (
                "La atención es $\\text{softmax}(QK^T/\\sqrt{d_k})V$ según el artículo.",
                "sentence",
                "La atención es $\\text{softmax}(QK^T/\\sqrt{d_k})V$ según el **artículo**.",
            ),
            ("Cuesta 5 $ y más.", "sentence", "Cuesta 5 $ y más."),
            ("Con $$n-1$$ palabras.", "item", "Con $$n-1$$ palabras."),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_units_keep_their_texts_and_point_at_their_source(name):
    passage, expected = GOLDEN[name]
    assert passage_units(passage) == tuple(text for text, _, _ in expected)
    units = read_units(passage)
    assert [(u.text, u.kind, passage[u.start : u.end]) for u in units] == expected


def _passages() -> dict[str, str]:
    """Every tracked note whole, and each of its chunks (what the checkers read)."""
    found = {}
    for path in sorted(NOTES.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        found[path.name] = text
        for chunk in chunk_note(Note(path.name, text, "x"), ChunkConfig()):
            found[f"{path.name}#{chunk.start}"] = chunk.text
    return found


PASSAGES = _passages()


def _as_a_unit_writes_it(span: str) -> str:
    """A span with the heading marks, emphasis and extra spaces a unit drops, dropped."""
    return " ".join(strip_markup_outside_math(HEADING_MARKS.sub("", span)).split())


@pytest.mark.parametrize("name", sorted(PASSAGES))
def test_every_unit_is_read_from_its_own_span_in_order(name):
    passage = PASSAGES[name]
    units = read_units(passage)
    assert units or "#" in name, "a whole note has units (a chunk may be a lone heading)"
    end = 0
    for unit in units:
        span = passage[unit.start : unit.end]
        assert span.strip(), unit
        assert unit.start >= end, f"{unit} overlaps or precedes the unit before it"
        end = unit.end
        assert unit.text == (f"{unit.label} {unit.body}" if unit.label else unit.body)
        if unit.kind == "code":  # a code line is quoted as written
            assert unit.body == span
            continue
        assert unit.body == _as_a_unit_writes_it(span), (unit, span)
        written = _as_a_unit_writes_it(span).lower()
        assert all(word in written for word in content_words(unit.body)), (unit, span)
