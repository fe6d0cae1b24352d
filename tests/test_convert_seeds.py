"""Tests for scripts/convert_seeds.py (a one-off tool, not a runtime module).

The committed notes must be exactly what the converter makes of the real
seeds, the notes must keep every word of the seeds, every repair is checked on
a small case, and the seeds folder must come out of a run untouched.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from pathlib import Path

import pytest


def _load_script(name: str):
    """A script of scripts/ as a module (scripts/ is not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


cs = _load_script("convert_seeds")

REPO = Path(__file__).resolve().parents[1]
# A verbatim copy of the student's seed files (../shared/seeds), kept in the repository so
# the converter tests run on any clone.
SEEDS_DIR = REPO / "corpus" / "seeds"
NOTES_DIR = REPO / "corpus" / "notes"


@pytest.fixture(scope="module")
def seeds_dir() -> Path:
    return SEEDS_DIR


def seed_and_note_texts(seeds_dir: Path) -> list[tuple[str, str, str]]:
    """(slug, seed text, committed note text) for every seed."""
    return [
        (
            slug,
            (seeds_dir / name).read_text(encoding="utf-8"),
            (NOTES_DIR / f"{slug}.md").read_text(encoding="utf-8"),
        )
        for name, (slug, _title) in sorted(cs.SEEDS.items())
    ]


# ------------------------------------------------- (a) committed notes are reproducible


def test_cli_output_is_byte_identical_to_committed_notes(seeds_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "notes"
    result = subprocess.run(
        [sys.executable, "scripts/convert_seeds.py", str(seeds_dir), str(out_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    expected = sorted(f"{slug}.md" for slug, _title in cs.SEEDS.values())
    assert sorted(p.name for p in out_dir.iterdir()) == expected  # no stray temp files
    for name in expected:
        committed = NOTES_DIR / name
        assert committed.is_file(), (
            f"{committed} is missing: run the converter and commit its output"
        )
        assert (out_dir / name).read_bytes() == committed.read_bytes(), (
            f"{name} differs from the converter's output; regenerate it with "
            f"python3 scripts/convert_seeds.py {seeds_dir} corpus/notes"
        )


def test_conversion_is_deterministic(seeds_dir: Path) -> None:
    for name, (_slug, title) in cs.SEEDS.items():
        text = (seeds_dir / name).read_text(encoding="utf-8")
        assert cs.convert_text(text, title) == cs.convert_text(text, title)


# ------------------------------------------------- (b) content preservation

# Lines that are export artefacts, not note content.
ARTEFACT_LINE = re.compile(r"^(Copiar código|python|rust|bash|-|```\w*)$")
IMAGE_EMBED = re.compile(r"!\[\[[^\]]*\]\]")
HTML_TAG = re.compile(r"<[^>]+>")
LINE_PREFIX = re.compile(r"^#+\s*")  # heading marks
NUMBER_PREFIX = re.compile(r"^\d+\.(\s+|$)")  # question and list-item numbers
FORMULA_LINE = re.compile(r"^\$.*\$$")
FORMULA_TOKEN = "$formula:"


def content_words(text: str) -> list[str]:
    """The words of a seed or a note, without the known artefacts, the document
    title (it comes from the SEEDS table), numbering and Markdown punctuation.

    A line holding only a formula becomes one token, so that dropping a
    duplicated formula shows up as the deletion of exactly one token.
    """
    words: list[str] = []
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    for raw in lines:
        line = raw.strip()
        if ARTEFACT_LINE.match(line):
            continue
        if FORMULA_LINE.match(line):
            words.append(FORMULA_TOKEN + " ".join(re.findall(r"\w+", line)))
            continue
        line = IMAGE_EMBED.sub(" ", line)
        line = HTML_TAG.sub(" ", line)
        line = LINE_PREFIX.sub("", line)
        line = line.lstrip("-●| ").strip()
        line = NUMBER_PREFIX.sub("", line)
        words.extend(re.findall(r"\w+", line))  # drops *, |, `, $ and other punctuation
    return words


def unexplained_differences(seed: str, note: str) -> tuple[list[str], int]:
    """Differences between the word sequences of a seed and its note that are
    not a known repair; also returns how many formula lines were dropped.

    Known repairs: a word the PDF broke across lines is re-joined (the seed's
    pieces concatenate to the note's word), and a duplicated formula line is
    dropped (the deletion of one formula token).
    """
    seed_words, note_words = content_words(seed), content_words(note)
    matcher = difflib.SequenceMatcher(a=seed_words, b=note_words, autojunk=False)
    problems: list[str] = []
    dropped_formulas = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = seed_words[i1:i2], note_words[j1:j2]
        if tag == "equal" or (removed and added and "".join(removed) == "".join(added)):
            continue
        if tag == "delete" and len(removed) == 1 and removed[0].startswith(FORMULA_TOKEN):
            dropped_formulas += 1
            continue
        context = " ".join(seed_words[max(0, i1 - 8) : i1])
        problems.append(f"after '...{context}': seed {removed!r} -> note {added!r}")
    return problems, dropped_formulas


# slug -> number of duplicated formula lines the converter is expected to drop
EXPECTED_DROPPED_FORMULAS = {"teacher_forcing": 0, "preguntas_nlp_llm": 1}


def test_notes_keep_every_word_of_the_seeds(seeds_dir: Path) -> None:
    for slug, seed, note in seed_and_note_texts(seeds_dir):
        problems, dropped = unexplained_differences(seed, note)
        assert problems == [], f"{slug}: words changed:\n" + "\n".join(problems)
        assert dropped == EXPECTED_DROPPED_FORMULAS[slug], slug


def _drop_sentence(note: str) -> str:
    return note.replace(
        "Son vectores que representan la posición de cada token en una secuencia. ", ""
    )


def _alter_word(note: str) -> str:
    return note.replace("exponencialmente", "linealmente")


def _drop_code_line(note: str) -> str:
    return note.replace("# Cargar BERT para NER\n", "")


def _drop_table_row(note: str) -> str:
    return re.sub(r"^\| Eficiencia .*\n", "", note, flags=re.MULTILINE)


def _drop_inline_formula(note: str) -> str:
    return note.replace("$n-1$", "")


def _drop_formula_line(note: str) -> str:
    # The first copy is the one in the attention question, not a duplicate.
    formula = "$$\\text{Attention}(Q, K, V) = \\text{softmax}\\left(\\frac{QK^T}{\\sqrt{d_k}}\\right)V$$\n"
    return note.replace(formula, "", 1)


@pytest.mark.parametrize(
    "mutate",
    [
        _drop_sentence,
        _alter_word,
        _drop_code_line,
        _drop_table_row,
        _drop_inline_formula,
        _drop_formula_line,
    ],
)
def test_content_check_catches_a_damaged_note(seeds_dir: Path, mutate) -> None:
    """The preservation check is meaningful: it fails on a damaged note."""
    seed = (seeds_dir / "004_aa60cd60d7843f2d.txt").read_text(encoding="utf-8")
    note = (NOTES_DIR / "preguntas_nlp_llm.md").read_text(encoding="utf-8")
    damaged = mutate(note)
    assert damaged != note, "the mutation no longer applies to the note"
    problems, dropped = unexplained_differences(seed, damaged)
    assert problems or dropped != EXPECTED_DROPPED_FORMULAS["preguntas_nlp_llm"]


# ------------------------------------------------- structure of the committed notes

EXPECTED_H2 = {"teacher_forcing": 5, "preguntas_nlp_llm": 83}


@pytest.mark.parametrize("slug", sorted(EXPECTED_H2))
def test_note_structure(slug: str) -> None:
    note = (NOTES_DIR / f"{slug}.md").read_text(encoding="utf-8")
    lines = note.split("\n")
    title = next(t for s, t in cs.SEEDS.values() if s == slug)
    assert lines[0] == f"# {title}"
    assert note.endswith("\n") and not note.endswith("\n\n")
    outside_code = re.sub(r"^```.*?^```$", "", note, flags=re.MULTILINE | re.DOTALL)
    headings = re.findall(r"^## (.*)$", outside_code, flags=re.MULTILINE)
    assert len(headings) == EXPECTED_H2[slug]
    if slug == "preguntas_nlp_llm":
        numbers = [int(h.split(".")[0]) for h in headings]
        assert numbers == list(range(1, len(headings) + 1))
    for artefact in ("Copiar código", "<i>", "<ul", "![[", "\t", "●"):
        assert artefact not in note, artefact
    for line in lines:
        assert line == line.rstrip(), f"trailing whitespace: {line!r}"
        assert line.strip() not in {"-", "python", "rust", "bash"}, line


# ------------------------------------------------- (c) repair functions

UNIT_CASES = [
    # (id, repair function, input lines, expected lines)
    (
        "split fences merge into one python block",
        cs.build_code_blocks,
        [
            "python",
            "",
            "Copiar código",
            "",
            "```",
            "from x import Y",
            "```",
            "",
            "```",
            "# Load Y",
            "```",
            "",
            "```",
            "model =",
            "```",
            "",
            "```",
            "Y.load('a')",
            "```",
        ],
        ["```python\nfrom x import Y\n\n# Load Y\nmodel = Y.load('a')\n```"],
    ),
    (
        "line wrapped inside a string and after '=' is re-joined",
        cs.build_code_blocks,
        ["```", "model =", "Bert.from_pretrained('bert-base-unc", "ased', num_labels=2)", "```"],
        ["```\nmodel = Bert.from_pretrained('bert-base-uncased', num_labels=2)\n```"],
    ),
    (
        "wrapped comment tail joins the comment",
        cs.build_code_blocks,
        [
            "```",
            "x = 1",
            "",
            "# Entrenar el modelo en una tarea de",
            "clasificación específica",
            "```",
        ],
        ["```\nx = 1\n\n# Entrenar el modelo en una tarea de clasificación específica\n```"],
    ),
    (
        "stray Copiar código is removed",
        cs.build_code_blocks,
        ["Texto.", "Copiar código", "Más texto."],
        ["Texto.", "Más texto."],
    ),
    (
        "unfenced labelled prompt becomes a text block",
        cs.build_code_blocks,
        [
            "rust",
            "",
            "Copiar código",
            "",
            "Traduce:",
            "",
            '"a" -> "b"',
            "",
            '"c" ->',
            "",
            "Fin de ejemplo.",
        ],
        ['```text\nTraduce:\n"a" -> "b"\n"c" ->\n```', "", "Fin de ejemplo."],
    ),
    (
        "a language name used as a word is kept",
        cs.build_code_blocks,
        ["python", "es un lenguaje."],
        ["python", "es un lenguaje."],
    ),
    (
        "question line becomes a heading, renumbered",
        cs.mark_questions,
        ["8. ¿Qué es *pre-training*?", "", "8. Explica el mecanismo de atención."],
        ["## 1. ¿Qué es *pre-training*?", "", "## 2. Explica el mecanismo de atención."],
    ),
    (
        "in-answer list items are not questions",
        cs.mark_questions,
        ["", "1. **Encoder:**", "", "1. Representación densa:", "", "2. Entrenar al *student*."],
        ["", "1. **Encoder:**", "", "1. Representación densa:", "", "2. Entrenar al *student*."],
    ),
    (
        "empty numbered item dropped, later items renumbered",
        cs.fix_answer_numbering,
        [
            "## 8. Q?",
            "3. **Fine-Tuning:**",
            "",
            "4.",
            "",
            "5. Entrenamiento:",
            "6. Evaluación:",
            "## 9. R?",
            "1. A",
        ],
        [
            "## 8. Q?",
            "3. **Fine-Tuning:**",
            "",
            "",
            "4. Entrenamiento:",
            "5. Evaluación:",
            "## 9. R?",
            "1. A",
        ],
    ),
    (
        "duplicated formula is kept once",
        cs.dedupe_formulas,
        [
            "$$\\text{A}(Q, K) = \\frac{QK^T}{\\sqrt{d_k}}$$",
            "",
            "$\\text{A}(Q, K) = dkQKT$",
            "",
            "Texto.",
        ],
        ["$$\\text{A}(Q, K) = \\frac{QK^T}{\\sqrt{d_k}}$$", "", "", "Texto."],
    ),
    (
        "different consecutive formulas are both kept",
        cs.dedupe_formulas,
        ["$a + b$", "$a - c$"],
        ["$a + b$", "$a - c$"],
    ),
    (
        "lone '-' separators are dropped",
        cs.drop_separator_lines,
        ["- item", "-", "", " - "],
        ["- item", ""],
    ),
    (
        "image embed is removed",
        cs.drop_image_embeds,
        ["![[Pasted image 20231202160427.png]]", "Texto."],
        ["", "Texto."],
    ),
    (
        "<i> becomes emphasis, <ul> wrapper goes",
        cs.strip_inline_html,
        ["Usa <i>Self-Attention</i> global", '<ul style="list-style-type: none"> - Simple.'],
        ["Usa *Self-Attention* global", " - Simple."],
    ),
    (
        "tab-separated lines become a pipe table",
        cs.convert_tables,
        ["Característica\tTransformer\tRNN", "Atención\tGlobal \tSecuencial", "", "Texto."],
        [
            "| Característica | Transformer | RNN |",
            "| --- | --- | --- |",
            "| Atención | Global | Secuencial |",
            "",
            "Texto.",
        ],
    ),
    (
        "page-break split sentence is re-joined",
        cs.join_broken_paragraphs,
        ["Es una técnica. El modelo", "", "genera respuestas.", "", "Otra frase."],
        ["Es una técnica. El modelo genera respuestas.", "", "Otra frase."],
    ),
    (
        "one-space bullets under a label are nested, stray-space numbers are top level",
        cs.normalize_lists,
        [
            "1. **Preprocesamiento:**",
            " - Tokenizar.",
            " - Normalizar.",
            " 2. **Modelo:**",
            " - BERT.",
        ],
        [
            "1. **Preprocesamiento:**",
            "   - Tokenizar.",
            "   - Normalizar.",
            "2. **Modelo:**",
            "   - BERT.",
        ],
    ),
    (
        "one-space bullet after a plain item is its sibling",
        cs.normalize_lists,
        ["- En NLP, se usa MLM.", " - En visión, ImageNet."],
        ["- En NLP, se usa MLM.", "- En visión, ImageNet."],
    ),
    (
        "a bullet label after children is a sibling of the earlier label",
        cs.normalize_lists,
        ["- **Pre-training (PT):**", " - Entrenar.", " - **Fine-tuning (FT):**", " - Ajustar."],
        ["- **Pre-training (PT):**", "  - Entrenar.", "- **Fine-tuning (FT):**", "  - Ajustar."],
    ),
    (
        "bullets after a blank line under a numbered label are nested; ● becomes -",
        cs.normalize_lists,
        [
            "1. Dataset:",
            "",
            "- Usar IMDb.",
            "",
            "Texto:",
            "● Modelo (Ej., BERT):",
            "",
            "- Considera.",
        ],
        [
            "1. Dataset:",
            "",
            "   - Usar IMDb.",
            "",
            "Texto:",
            "- Modelo (Ej., BERT):",
            "",
            "  - Considera.",
        ],
    ),
    (
        "continuation and a label's body paragraph are indented, other paragraphs not",
        cs.normalize_lists,
        ["1. **Encoder:**", "Procesa la entrada.", "2. **MLM:**", "", "Ej., BERT.", "", "Ejemplo:"],
        [
            "1. **Encoder:**",
            "   Procesa la entrada.",
            "2. **MLM:**",
            "",
            "   Ej., BERT.",
            "",
            "Ejemplo:",
        ],
    ),
]


@pytest.mark.parametrize(
    "repair, lines, expected",
    [case[1:] for case in UNIT_CASES],
    ids=[case[0] for case in UNIT_CASES],
)
def test_repair(repair, lines: list[str], expected: list[str]) -> None:
    assert repair(lines) == expected


@pytest.mark.parametrize(
    "seed, expected",
    [
        ("\n\n\n# Seed title\n\n![[img.png]]\n\nTexto.   \n", "# Title\n\nTexto.\n"),
        ("\n12. ¿Qué es X?\nRespuesta.\n\n\n\n", "# Title\n\n## 1. ¿Qué es X?\n\nRespuesta.\n"),
    ],
)
def test_convert_text_layout(seed: str, expected: str) -> None:
    assert cs.convert_text(seed, "Title") == expected


# ------------------------------------------------- (d) the seeds folder is read only


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_seeds_folder_is_unchanged_by_a_run(seeds_dir: Path, tmp_path: Path) -> None:
    before = _snapshot(seeds_dir)
    assert cs.main([str(seeds_dir), str(tmp_path / "out")]) == 0
    assert _snapshot(seeds_dir) == before


def test_refuses_to_write_inside_the_seeds_folder(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in cs.SEEDS:
        (seeds / name).write_text("1. ¿Qué?\n", encoding="utf-8")
    before = _snapshot(seeds)
    assert cs.main([str(seeds), str(seeds / "out")]) == 1
    assert _snapshot(seeds) == before
