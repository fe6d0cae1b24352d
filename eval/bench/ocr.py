"""Text in images (issue 27): OCR accuracy on ten slide-like images, per engine, and the
index time of the fixture vault with and without OCR.

    python -m eval.bench.ocr [--repeats 3] [--upscale 1] [--out docs/results/ocr.json]

Accuracy: ten images drawn here with Pillow, as a student's slides and screenshots look
(Spanish with accents and ñ, titles and bullets, a formula-like line, code, serif and
sans fonts from 16 to 56 px, dark and coloured backgrounds, a low-resolution screenshot
and a JPEG at quality 60). The character error rate (CER) is the edit distance (nltk)
between what an engine read and the text drawn, over the reference's length, both
normalised alike: bullet glyphs at the start of a line dropped (they are drawing, not
text), runs of whitespace one space. Case and accents count: "atencion" for "atención"
is an error. The seconds are per image, one image at a time, the engine already loaded
and run once (Tesseract starts a process per image, so its figure includes that;
RapidOCR's onnxruntime uses every core for one image).

Engines: RapidOCR 3 (``corpus.ocr.RapidOcrEngine``, what the index uses, here in this
process), and, when they are installed, Tesseract 5 in Spanish + English through
pytesseract (Debian's ``tesseract-ocr tesseract-ocr-spa``, ``pip install
pytesseract==0.3.13``) and ``rapidocr_onnxruntime`` 1.4 (PP-OCRv4 Chinese/English models
in its wheel). Neither of those two is a requirement of the project; to measure them:

    apt-get install -y tesseract-ocr tesseract-ocr-spa
    .venv/bin/pip install pytesseract==0.3.13
    .venv/bin/pip install --target /tmp/rapidocr-site --no-deps rapidocr_onnxruntime==1.4.4
    PYTHONPATH=/tmp/rapidocr-site .venv/bin/python -m eval.bench.ocr

Index time: tests/data/vault copied with its embedded ``diagrama-atencion.png`` drawn (a
slide of the set), built with the default embedder (loaded once, before the timed builds)
into a new index folder and a new cache each time: OCR on, OCR off (``ChunkConfig(
ocr=False)``, ``index --no-ocr``), and each again with the same cache ("warm": every
embedding and the image's text from the cache). Each figure is the median of
``--repeats`` builds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from corpus.config import ChunkConfig
from corpus.ocr import RapidOcrEngine, load_image, ocr_missing
from eval.harness import emit
from index.store import build_index

ROOT = Path(__file__).resolve().parents[2]
VAULT = ROOT / "tests" / "data" / "vault"
FONTS = Path("/usr/share/fonts/truetype")
BULLET = re.compile(r"^[•·●▪■◦○\-–—*+>»]\s+")


@dataclass(frozen=True)
class Line:
    text: str
    font: str  # a file under /usr/share/fonts/truetype (Debian's fonts-dejavu, -liberation)
    size: int  # px
    color: str = "black"
    gap: float = 0.6  # space above the line, in line heights


@dataclass(frozen=True)
class Slide:
    name: str
    lines: tuple[Line, ...]
    size: tuple[int, int] = (1280, 720)
    background: str = "white"
    band: str = ""  # a coloured title band behind the first line
    gradient: tuple[str, str] | None = None
    suffix: str = ".png"

    @property
    def reference(self) -> str:
        return "\n".join(line.text for line in self.lines)


SANS, SANS_B = "dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf"
SERIF, SERIF_B = "liberation/LiberationSerif-Regular.ttf", "liberation/LiberationSerif-Bold.ttf"
LIB, LIB_B = "liberation/LiberationSans-Regular.ttf", "liberation/LiberationSans-Bold.ttf"
MONO, ITALIC = "dejavu/DejaVuSansMono.ttf", "liberation/LiberationSans-Italic.ttf"

SLIDES = (
    Slide(
        "atencion",
        (
            Line("Mecanismo de atención", SANS_B, 56),
            Line("• Cada token pondera a los demás según su relevancia", SANS, 34, gap=1.2),
            Line("• Las consultas, claves y valores se aprenden", SANS, 34),
            Line("• La atención multicabeza combina varias vistas", SANS, 34),
        ),
    ),
    Slide(
        "oscura",
        (
            Line("Redes neuronales recurrentes", LIB_B, 52, "white"),
            Line("- Procesan la secuencia paso a paso", LIB, 36, "white", gap=1.2),
            Line("- Sufren el desvanecimiento del gradiente", LIB, 36, "white"),
            Line("- Las LSTM añaden puertas de olvido", LIB, 36, "white"),
        ),
        background="#1f2a44",
    ),
    Slide(
        "serif",
        (
            Line("Definición de entropía", SERIF_B, 48),
            Line("La entropía mide la incertidumbre de una variable aleatoria.", SERIF, 32, gap=1),
            Line("Cuanto más uniforme es la distribución, mayor es su valor.", SERIF, 32),
            Line("Se expresa en bits cuando el logaritmo es en base dos.", SERIF, 32),
        ),
        background="#f5efe0",
    ),
    Slide(
        "formula",
        (
            Line("Función de pérdida", SANS_B, 50),
            Line("L = -Σ y·log(p) + λ‖w‖²", SANS, 40, gap=1.2),
            Line("• λ controla la regularización", SANS, 32, gap=1),
            Line("• p es la probabilidad predicha", SANS, 32),
        ),
    ),
    Slide(
        "densa",
        (
            Line("Resumen del tema 3: evaluación", LIB_B, 30),
            Line("1. Precisión: aciertos entre lo que el modelo marca", LIB, 20, gap=1),
            Line("2. Exhaustividad: aciertos entre lo que había que marcar", LIB, 20),
            Line("3. F1: media armónica de precisión y exhaustividad", LIB, 20),
            Line("4. Exactitud: útil solo si las clases están equilibradas", LIB, 20),
            Line("5. Curva ROC: compara umbrales de decisión", LIB, 20),
            Line("6. Validación cruzada con k particiones", LIB, 20),
        ),
        size=(1024, 768),
    ),
    Slide(
        "banda",
        (
            Line("Tokenización en español", SANS_B, 48, "white"),
            Line("• Las subpalabras resuelven el vocabulario abierto", SANS, 32, gap=1.6),
            Line("• «Pingüino» y «cigüeña» se parten en piezas", SANS, 32),
            Line("• El año 2024 tuvo más de 300 términos nuevos", SANS, 32),
        ),
        band="#2f6fb5",
    ),
    Slide(
        "codigo",
        (
            Line("Ejemplo en Python", SANS_B, 44),
            Line("# cuenta las palabras de la canción", MONO, 28, "#555555", gap=1),
            Line("for palabra in texto.split():", MONO, 28),
            Line("    conteo[palabra] = conteo.get(palabra, 0) + 1", MONO, 28),
        ),
        background="#f4f4f4",
    ),
    Slide(  # a tight crop of a low-resolution screenshot
        "captura",
        (
            Line("Apuntes de la clase del martes", LIB_B, 22),
            Line("El modelo de lenguaje predice la siguiente palabra.", LIB, 16, gap=0.5),
            Line("La perplejidad baja cuando el modelo acierta más.", LIB, 16, gap=0.3),
        ),
        size=(460, 120),
    ),
    Slide(
        "jpeg",
        (
            Line("Aprendizaje por refuerzo", SANS_B, 52),
            Line("• El agente recibe una recompensa por cada acción", SANS, 34, gap=1.2),
            Line("• La política decide qué acción tomar", SANS, 34),
            Line("• Explorar o explotar: ése es el dilema", SANS, 34),
        ),
        gradient=("#ffffff", "#cfe3f7"),
        suffix=".jpg",
    ),
    Slide(
        "mixta",
        (
            Line("¿Qué es un embedding?", LIB_B, 50),
            Line("Un vector denso que representa una palabra", ITALIC, 34, gap=1.2),
            Line("¡Ojo! Palabras parecidas quedan cerca", LIB, 30, "#b00020", gap=1),
            Line("Ejemplo: rey − hombre + mujer ≈ reina", LIB, 30),
        ),
    ),
)


def render(slide: Slide, folder: Path) -> Path:
    """Draw ``slide`` into ``folder``; returns the image's path."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = slide.size
    image = Image.new("RGB", slide.size, slide.background)
    draw = ImageDraw.Draw(image)
    if slide.gradient:
        top, bottom = (Image.new("RGB", (1, 1), c).getpixel((0, 0)) for c in slide.gradient)
        for y in range(height):
            mix = y / (height - 1)
            color = tuple(round(a + (b - a) * mix) for a, b in zip(top, bottom))  # type: ignore[arg-type]
            draw.line([(0, y), (width, y)], fill=color)
    y = height * 0.08
    for i, line in enumerate(slide.lines):
        font = ImageFont.truetype(str(FONTS / line.font), line.size)
        y += line.gap * line.size if i else 0
        if i == 0 and slide.band:
            draw.rectangle([0, 0, width, y + line.size * 1.6], fill=slide.band)
            y += line.size * 0.3
        draw.text((width * 0.06, y), line.text, font=font, fill=line.color)
        y += line.size * 1.25
    path = folder / f"{slide.name}{slide.suffix}"
    image.save(path, quality=60) if slide.suffix == ".jpg" else image.save(path)
    return path


def normalise(text: str) -> str:
    lines = (BULLET.sub("", line.strip()) for line in text.splitlines())
    return " ".join(" ".join(lines).split())


def cer(reference: str, hypothesis: str) -> float:
    from nltk.metrics.distance import edit_distance

    reference, hypothesis = normalise(reference), normalise(hypothesis)
    return edit_distance(reference, hypothesis) / max(len(reference), 1)


class Tesseract:
    """Tesseract 5 (LSTM) in Spanish + English, one process per image; with ``factor``,
    on the image enlarged that many times (Lanczos: does small text read better?)."""

    def __init__(self, factor: float = 1.0) -> None:
        import pytesseract

        pytesseract.get_languages()  # raises when the program is missing
        self.factor = factor

    def read(self, path: Path) -> str:
        import pytesseract
        from PIL import Image

        image = load_image(path)
        if self.factor != 1:
            size = (round(image.width * self.factor), round(image.height * self.factor))
            image = image.resize(size, Image.LANCZOS)
        return pytesseract.image_to_string(image, lang="spa+eng")


class RapidOcrOnnx:
    """rapidocr_onnxruntime 1.4: PP-OCRv4 Chinese/English models in its wheel."""

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()

    def read(self, path: Path) -> str:
        result, _ = self.engine(str(path))
        return "\n".join(box[1] for box in result or ())


def engines(upscale: float) -> dict:
    makers = {
        "rapidocr-3": RapidOcrEngine,
        "tesseract": Tesseract,
        "rapidocr_onnxruntime-1.4": RapidOcrOnnx,
    }
    if upscale != 1:
        makers[f"tesseract-x{upscale:g}"] = lambda: Tesseract(upscale)
    found: dict = {}
    for name, make in makers.items():
        if name == "rapidocr-3" and (reason := ocr_missing()):
            print(f"{name}: {reason}", file=sys.stderr)
            continue
        try:
            began = time.perf_counter()
            found[name] = make()
            print(f"{name}: cargado en {time.perf_counter() - began:.1f} s", file=sys.stderr)
        except (ImportError, OSError) as err:
            print(f"{name}: no instalado ({err})", file=sys.stderr)
    return found


def accuracy(work: Path, upscale: float) -> dict:
    """Each image read by every engine in turn (interleaved: a busy moment of the machine
    slows them all alike), after one untimed read each (RapidOCR loads its models then)."""
    paths = {slide.name: render(slide, work) for slide in SLIDES}
    found = engines(upscale)
    for engine in found.values():
        engine.read(paths[SLIDES[0].name])
    rows: dict[str, dict] = {name: {} for name in found}
    for slide in SLIDES:
        for name, engine in found.items():
            began = time.perf_counter()
            text = engine.read(paths[slide.name])
            seconds = time.perf_counter() - began
            rows[name][slide.name] = {
                "cer": round(cer(slide.reference, text), 4),
                "seconds": seconds,
            }
            print(f"{name} {slide.name}: {rows[name][slide.name]} {text!r}", file=sys.stderr)
    return {
        name: {
            "cer_mean": round(statistics.mean(r["cer"] for r in row.values()), 4),
            "cer_median": round(statistics.median(r["cer"] for r in row.values()), 4),
            "seconds_per_image": round(statistics.mean(r["seconds"] for r in row.values()), 2),
            "images": {k: {**r, "seconds": round(r["seconds"], 2)} for k, r in row.items()},
        }
        for name, row in rows.items()
    }


def index_time(work: Path, repeats: int) -> dict:
    vault = work / "vault"
    shutil.copytree(VAULT, vault)
    render(SLIDES[0], vault).rename(vault / "diagrama-atencion.png")  # Atención.md embeds it
    count = iter(range(10_000))

    def build(ocr: bool, cache: Path | None = None) -> tuple[float, int]:
        n = next(count)
        began = time.perf_counter()
        report = build_index(
            vault, work / f"index-{n}", ChunkConfig(ocr=ocr), cache_dir=cache or work / f"c{n}"
        )
        return time.perf_counter() - began, report.images

    build(False)  # loads the embedder: no timed build pays it
    runs: dict[str, list[float]] = {"ocr": [], "no_ocr": [], "ocr_warm": [], "no_ocr_warm": []}
    images = 0
    for i in range(repeats):
        seconds, images = build(True, work / f"ocr-{i}")
        runs["ocr"].append(seconds)
        runs["no_ocr"].append(build(False, work / f"no-ocr-{i}")[0])
        # Again into a new index folder with the same cache: every embedding and the
        # image's text come from the cache (an unchanged image is not read again).
        runs["ocr_warm"].append(build(True, work / f"ocr-{i}")[0])
        runs["no_ocr_warm"].append(build(False, work / f"no-ocr-{i}")[0])
    return {
        "notes": 3,
        "image_chunks": images,
        **{f"{k}_seconds_median": round(statistics.median(v), 3) for k, v in runs.items()},
        "seconds_runs": {k: [round(s, 3) for s in v] for k, v in runs.items()},
    }


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("rapidocr", "onnxruntime", "pytesseract", "rapidocr_onnxruntime"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    try:
        import pytesseract

        found["tesseract"] = str(pytesseract.get_tesseract_version())
    except (ImportError, OSError):
        pass
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--upscale", type=float, default=1.0, help="also Tesseract on x N")
    parser.add_argument("--skip-index", action="store_true", help="accuracy only")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats debe ser al menos 1")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report: dict = {
            "config": {
                "repeats": args.repeats,
                "images": len(SLIDES),
                "upscale": args.upscale,
                "versions": versions(),
                "cpus": os.cpu_count(),
                # Other work on the machine slows every figure: the seconds are comparable
                # within one run, not across machines or busy hours.
                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            },
            "accuracy": accuracy(work, args.upscale),
        }
        if not args.skip_index:
            report["index_time"] = index_time(work, args.repeats)
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
