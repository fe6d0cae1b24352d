"""Read a folder of notes (.md, .txt, .pdf) without ever writing to it.

A file that cannot be used is skipped with a warning that names it, so one bad file never
blocks the rest of the notes; only a folder with nothing usable is an error.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from corpus.config import ChunkConfig
from corpus.errors import NotesError
from corpus.files import resolves_inside
from corpus.markdown import read_front_matter
from corpus.records import Note

log = logging.getLogger(__name__)


@dataclass
class LoadResult:
    notes: list[Note]
    warnings: list[str] = field(default_factory=list)


class SkipNote(Exception):
    """Raised while reading one file: the message says why it is skipped."""


def _read_text_file(path: Path, data: bytes, config: ChunkConfig) -> str:
    if len(data) > config.max_note_bytes:
        raise SkipNote(
            f"demasiado grande ({len(data) / 1e6:.1f} MB; el límite es "
            f"{config.max_note_bytes / 1e6:.1f} MB)"
        )
    return decode_text(data)


def decode_text(data: bytes) -> str:
    """A text note's bytes as text: UTF-8 (BOM or not), or UTF-16 (BOM or not: what
    Windows' Notepad saves as "Unicode"). Raises SkipNote for anything else."""
    codec = _utf16_codec(data)
    if codec is None and b"\x00" in data[:8192]:
        raise SkipNote("parece un archivo binario, no texto")
    if codec is not None:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            raise SkipNote("parece un archivo binario, no texto") from None
        if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f" for ch in text):
            raise SkipNote("parece un archivo binario, no texto")
        return text
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SkipNote(
            f"no es UTF-8 válido (byte {err.start}); guárdalo con codificación UTF-8"
        ) from None


def _utf16_codec(data: bytes) -> str | None:
    """The UTF-16 codec ``data`` looks written in, or None. A BOM says so. Without one, the
    bytes must fall as a Latin-script text's do: almost every character (ASCII, "ñ", "á")
    is below U+0100, so at least half the units have a zero high byte, and no unit has a
    zero low byte (that would be a NUL character or another script). Known limit: UTF-16
    without a BOM in a non-Latin script is not recognised."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    first, second = data[:8192:2], data[1:8192:2]  # the units' first and second bytes
    for codec, low, high in (("utf-16-le", first, second), ("utf-16-be", second, first)):
        if high and low.count(0) == 0 and high.count(0) >= len(high) / 2:
            return codec
    return None


def _read_pdf(path: Path, data: bytes, config: ChunkConfig) -> str:
    if len(data) > config.max_pdf_bytes:
        raise SkipNote(
            f"PDF demasiado grande ({len(data) / 1e6:.1f} MB; el límite es "
            f"{config.max_pdf_bytes / 1e6:.1f} MB)"
        )
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as err:
        raise SkipNote(f"no se pudo leer el PDF ({type(err).__name__})") from None
    text = "\n\n".join(page.strip() for page in pages)
    if len(text.encode("utf-8")) > config.max_note_bytes:
        raise SkipNote(f"el texto del PDF supera {config.max_note_bytes / 1e6:.1f} MB")
    return text


def iter_note_paths(notes_dir: Path, config: ChunkConfig) -> tuple[list[Path], list[str]]:
    """Candidate note files in a stable order, and warnings for files of other types and
    for links that lead out of the folder (``ln -s /etc/passwd notes/x.txt`` would
    otherwise be indexed and quoted to whoever uses the app)."""
    paths, warnings = [], []
    for path in sorted(notes_dir.rglob("*")):
        relative = path.relative_to(notes_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if not resolves_inside(path, notes_dir):
            warnings.append(
                f"{relative.as_posix()}: es un enlace a algo fuera de la carpeta de notas, se omite"
            )
            continue
        if not path.is_file():
            continue
        if path.suffix.lower() in config.suffixes:
            paths.append(path)
        else:
            warnings.append(unsupported_warning(relative.as_posix()))
    return paths, warnings


def unsupported_warning(name: str) -> str:
    """What the load says of a file that is no note; the build takes it back for an image
    a note embeds, whose text it reads (corpus/ocr.py)."""
    return f"{name}: tipo de archivo no admitido, se omite"


def load_notes(notes_dir: str | Path, config: ChunkConfig | None = None) -> LoadResult:
    """Read every usable note under ``notes_dir``.

    Raises NotesError when the folder is missing or holds no usable note.
    """
    config = config or ChunkConfig()
    notes_dir = Path(notes_dir)
    if not notes_dir.exists():
        raise NotesError(f"No existe la carpeta de notas: {notes_dir}")
    if not notes_dir.is_dir():
        raise NotesError(f"No es una carpeta: {notes_dir}")

    paths, warnings = iter_note_paths(notes_dir, config)
    notes: list[Note] = []
    seen: dict[str, str] = {}  # sha256 of the bytes -> first source with them
    for path in paths:
        source = path.relative_to(notes_dir).as_posix()
        try:
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                raise SkipNote(f"es un duplicado de {seen[digest]}")
            if path.suffix.lower() == ".pdf":
                text = _read_pdf(path, data, config)
            else:
                text = _read_text_file(path, data, config)
            if not text.strip():
                raise SkipNote("está vacía")
        except SkipNote as reason:
            warnings.append(f"{source}: {reason}, se omite")
            continue
        except OSError as err:
            warnings.append(f"{source}: no se pudo leer ({err.strerror}), se omite")
            continue
        seen[digest] = source
        if problem := read_front_matter(text).problem:
            warnings.append(f"{source}: {problem}; se indexa como texto")
        notes.append(Note(source=source, text=text, sha256=digest))

    for warning in warnings:
        log.warning(warning)
    if not notes:
        raise NotesError(
            f"No hay notas .md, .txt o .pdf utilizables en {notes_dir}{_skipped(warnings)}"
        )
    return LoadResult(notes=notes, warnings=warnings)


def _skipped(warnings: list[str], shown: int = 3) -> str:
    """Why the files of a folder with no usable note were left out, in the error itself:
    a lone note over 5 MB must say so, not just that nothing was usable."""
    if not warnings:
        return ""
    reasons = "; ".join(w.removesuffix(", se omite") for w in warnings[:shown])
    more = f"; y {len(warnings) - shown} más" if len(warnings) > shown else ""
    count = "1 archivo omitido" if len(warnings) == 1 else f"{len(warnings)} archivos omitidos"
    return f" ({count}: {reasons}{more})"
