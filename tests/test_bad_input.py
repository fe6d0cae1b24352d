"""Bad notes: a one-line error, or a warning naming the file while the rest is indexed.

The notes folder is never modified.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from corpus.config import ChunkConfig
from corpus.errors import NotesError
from corpus.loader import load_notes
from index.store import NotesIndex, build_index
from tests.conftest import ROOT

GOOD = "# Atención\nEl mecanismo de atención pondera los tokens.\n"


def tiny_pdf(text: str) -> bytes:
    """A valid one-page PDF showing ``text`` (ASCII), with a correct xref table."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]/Contents 4 0 R"
        b"/Resources<</Font<</F1 5 0 R>>>>>>",
        b"<</Length %d>>stream\n" % len(stream) + stream + b"\nendstream",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj" % number + body + b"endobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# name -> (files to add beside a good note, substring expected in the warning or None)
BAD_FILES = {
    "binary": ({"imagen.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)}, "binario"),
    "invalid_utf8": ({"latin1.txt": "Atención cañón".encode("latin-1")}, "UTF-8"),
    "empty": ({"vacia.md": b"  \n\n"}, "vacía"),
    "too_large": ({"enorme.txt": b"palabra " * 2_600_000}, "demasiado grande"),
    "broken_pdf": ({"roto.pdf": b"%PDF-1.4\nesto no es un pdf"}, "PDF"),
    "duplicate": ({"copia.md": GOOD.encode()}, "duplicado"),
    "unsupported_type": ({"foto.png": b"\x89PNG"}, "no admitido"),
}


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _make_notes(tmp_path: Path, extra: dict[str, bytes]) -> Path:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "buena.md").write_text(GOOD, encoding="utf-8")
    for name, data in extra.items():
        (notes / name).write_bytes(data)
    return notes


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_skipped_with_a_warning_naming_it(case, tmp_path, fake_embedder, fake_config):
    files, expected = BAD_FILES[case]
    notes = _make_notes(tmp_path, files)
    before = _tree_digest(notes)

    report = build_index(notes, tmp_path / "index", index_config=fake_config)

    (bad_name,) = files
    assert any(w.startswith(bad_name) and expected in w for w in report.warnings), report.warnings
    assert all("\n" not in w for w in report.warnings)
    assert report.notes == 1
    index = NotesIndex.load(tmp_path / "index")
    assert {c.source for c in index.chunks} == {"buena.md"}
    assert _tree_digest(notes) == before


def test_a_readable_pdf_is_indexed(tmp_path, fake_embedder, fake_config):
    notes = _make_notes(tmp_path, {"apuntes.pdf": tiny_pdf("Hola PDF")})
    report = build_index(notes, tmp_path / "index", index_config=fake_config)
    assert report.notes == 2, report.warnings
    index = NotesIndex.load(tmp_path / "index")
    assert any("Hola PDF" in c.text for c in index.chunks if c.source == "apuntes.pdf")


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda tmp: tmp / "no_existe", "No existe la carpeta"),
        (lambda tmp: (tmp / "vacia").mkdir() or tmp / "vacia", "No hay notas"),
        (lambda tmp: (tmp / "f.md").write_text("x") and tmp / "f.md", "No es una carpeta"),
        (
            lambda tmp: (
                (tmp / "solo_malas").mkdir()
                or (tmp / "solo_malas" / "v.md").write_text("")
                or tmp / "solo_malas"
            ),
            "No hay notas",
        ),
    ],
    ids=["missing", "empty_folder", "a_file", "only_bad_files"],
)
def test_unusable_notes_folder_is_a_one_line_error(setup, message, tmp_path):
    with pytest.raises(NotesError, match=message) as raised:
        load_notes(setup(tmp_path))
    assert "\n" not in str(raised.value)


def test_limits_come_from_the_config(tmp_path):
    notes = _make_notes(tmp_path, {"mediana.md": b"# M\n" + b"texto " * 400})
    result = load_notes(notes, ChunkConfig(max_note_bytes=1000))
    assert [n.source for n in result.notes] == ["buena.md"]
    assert result.warnings[0].startswith("mediana.md")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["index", "--notes", "{tmp}/no_existe", "--index", "{tmp}/i"], "No existe la carpeta"),
        (["search", "--index", "{tmp}/sin_indice", "hola"], "No hay índice"),
        (["search", "--index", "{tmp}/sin_indice", "   "], "vacía"),
        (["eval", "retrieval", "--notes", "{tmp}", "--questions", "{tmp}/q.jsonl"], "preguntas"),
    ],
    ids=["missing_notes", "missing_index", "empty_question", "missing_questions"],
)
def test_cli_prints_one_line_error_without_traceback(argv, message, tmp_path):
    argv = [a.format(tmp=tmp_path) for a in argv]
    result = subprocess.run(
        [sys.executable, "-m", "assistant", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
