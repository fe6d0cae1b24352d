"""Text in images: the PNG and JPEG images a note embeds (``![[esquema.png]]``,
``![](adjuntos/esquema.png)``) are read by OCR at index time, and their text becomes a
chunk of its own, cited as "imagen en <nota>" (``chunking.image_chunk``).

The engine is RapidOCR 3 with the PP-OCRv6 models its wheel ships (multilingual: Spanish
accents, ñ, ¿¡ and English), loaded from the wheel's own files so that nothing is ever
downloaded. On ten slide-like images it made a fifth of Tesseract's (spa+eng) character
errors (CER 0.3% against 1.5%), at about its speed (docs/RESULTS.md, ``eval/bench/ocr.py``).

It runs in a worker process (``python -m corpus.ocr``, image paths in, one JSON line per
image out): its models take ~0.5 GB while they read, and that leaves with the worker
instead of staying in the app. Each image is read once: its text is cached by the sha256
of its bytes (``OcrCache``, in the cache folder beside the embeddings), so a re-index
reads only new or changed images and starts no worker when there are none. An image that
cannot be read is one warning naming it; the rest of the notes index as usual, and
without the engine installed the notes still index, with one warning saying how to add it.

The images are found as Obsidian finds them and the app draws them: ``corpus/images.py``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from corpus.files import atomic_write_text
from corpus.images import ImageEmbed, ImageFinder, find_image_embeds
from corpus.records import Note

# The models rapidocr 3.10's wheel ships (rapidocr/models/): the default small detector
# and recogniser, and the text-direction classifier.
MODELS = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}
ENGINE = "rapidocr-3.10-PP-OCRv6-small"  # the cache key: another engine's text is not reused
# An image past this is not read: a 20 MB screenshot is already ~5,000 x 4,000 pixels (the
# detector works on at most 2,000 px a side anyway).
MAX_OCR_BYTES = 20_000_000
# The worker's time: its start (~3 s: onnxruntime, OpenCV, the models) and ~0.6 s per
# slide measured on 2 cores; generous, so that only a stuck worker is stopped.
WORKER_START_SECONDS = 60
SECONDS_PER_IMAGE = 30
PADDING, MAX_PADDING = 0.25, 32  # margin added around an image: of its shorter side, px
INSTALL_HINT = "instálalo con make setup (rapidocr y onnxruntime, de requirements.txt)"


class OcrError(Exception):
    """One image could not be read; the message says why, in a few words."""


def models_dir() -> Path | None:
    spec = find_spec("rapidocr")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "models"


def ocr_missing() -> str | None:
    """Why the notes' images cannot be read here (None: they can), with what to do."""
    folder = models_dir()
    if folder is None or find_spec("onnxruntime") is None:
        return f"falta el lector de texto de imágenes; {INSTALL_HINT}"
    if missing := [name for name in MODELS.values() if not (folder / name).is_file()]:
        return f"faltan los modelos de rapidocr ({', '.join(missing)}); {INSTALL_HINT}"
    return None


class RapidOcrEngine:
    """RapidOCR on the wheel's own model files (given by path: its download step, which
    runs when a default model is missing, is never reached)."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        folder = models_dir()
        assert folder is not None, "rapidocr is not installed"
        params: dict = {"Global.log_level": "error"}
        for stage, name in MODELS.items():
            params[f"{stage}.model_path"] = str(folder / name)
        self.engine = RapidOCR(params=params)

    def read(self, path: Path) -> str:
        """The image's text lines, top to bottom; OcrError when it cannot be read."""
        from PIL import ImageOps

        image = load_image(path)
        # A margin in the image's own background: on a tight crop (a line of text, a
        # formula) the detector otherwise cuts lines in pieces (6 single-line images: CER
        # 3.4% without, 0% with). At most 32 px: a slide's time stays as it was.
        border = min(round(PADDING * min(image.size)), MAX_PADDING)
        image = ImageOps.expand(image, border=border, fill=image.getpixel((0, 0)))
        try:
            found = self.engine(image)
        except Exception as err:  # noqa: BLE001 (any failure of one image is its warning)
            raise OcrError(f"{type(err).__name__}: {str(err)[:100]}") from None
        # With detection and recognition on (the defaults), a RapidOCROutput.
        boxes, texts = getattr(found, "boxes", None), getattr(found, "txts", None)
        if boxes is None or not texts:
            return ""  # no text in the image
        return "\n".join(join_lines(boxes, texts))


def join_lines(boxes, texts) -> list[str]:
    """The detector's boxes ((n, 4, 2): four corners, x then y) as lines of text: a box
    whose vertical middle lies above the current line's bottom joins that line, left to
    right, after a space (the detector may cut one line in two where the image is tight)."""
    lines: list[list[tuple[float, str]]] = []
    bottom = float("-inf")  # of the current line's first box
    for box, text in sorted(zip(boxes, texts), key=lambda found: float(found[0][:, 1].mean())):
        left, middle = float(box[:, 0].min()), float(box[:, 1].mean())
        if lines and middle < bottom:
            lines[-1].append((left, text.strip()))
        else:
            lines.append([(left, text.strip())])
            bottom = float(box[:, 1].max())
    return [" ".join(text for _, text in sorted(line)) for line in lines]


def load_image(path: Path):
    """The image as RGB on white (a transparent PNG's text would be black on black), turned
    upright by its EXIF tag (a phone's photo); Pillow refuses a decompression bomb (over
    ~179 million pixels) with an error."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            if upright.mode in ("RGBA", "LA", "P") or "transparency" in upright.info:
                rgba = upright.convert("RGBA")
                image = Image.new("RGB", rgba.size, "white")
                image.paste(rgba, mask=rgba.getchannel("A"))
                return image
            return upright.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise OcrError(f"no es una imagen válida ({type(err).__name__})") from None
    except (OSError, ValueError, SyntaxError) as err:  # truncated or damaged files
        raise OcrError(f"no es una imagen válida ({str(err)[:80]})") from None


def read_in_worker(paths: list[Path]) -> dict[Path, str | OcrError]:
    """The text of each image, read by a worker process (``python -m corpus.ocr``); an
    image it could not read, or did not reach (it died or was stopped), is an OcrError."""
    timeout = WORKER_START_SECONDS + SECONDS_PER_IMAGE * len(paths)
    request = json.dumps([str(path) for path in paths])
    command = [sys.executable, "-m", "corpus.ocr"]
    try:
        done = subprocess.run(
            command, input=request, capture_output=True, text=True, timeout=timeout
        )
        output, problem = done.stdout, _last_line(done.stderr) if done.returncode else ""
    except subprocess.TimeoutExpired as stopped:
        output = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else ""
        problem = f"el lector de imágenes superó {timeout} s y se detuvo"
    read: dict[Path, str | OcrError] = {}
    for line in output.splitlines():
        answer = json.loads(line)
        text, error = answer.get("text"), answer.get("error")
        read[Path(answer["path"])] = text if error is None else OcrError(error)
    for path in paths:
        read.setdefault(path, OcrError(problem or "el lector de imágenes no respondió"))
    return read


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"el lector de imágenes falló: {lines[-1][:160]}" if lines else ""


def worker() -> None:
    """``python -m corpus.ocr``: a JSON list of image paths on stdin, one JSON line per
    image on stdout ({"path", "text"} or {"path", "error"}), flushed as each is read."""
    paths = json.loads(sys.stdin.read())
    engine = RapidOcrEngine()
    for path in paths:
        try:
            answer = {"path": path, "text": engine.read(Path(path))}
        except OcrError as err:
            answer = {"path": path, "error": str(err)}
        print(json.dumps(answer, ensure_ascii=False), flush=True)


class OcrCache:
    """The text of each image the engine has read, by the sha256 of the image's bytes: one
    JSON file per engine, rewritten atomically (a student's notes hold tens of images)."""

    def __init__(self, root: Path, engine_name: str = ENGINE) -> None:
        self.path = Path(root) / "ocr" / f"{engine_name}.json"
        self._texts: dict[str, str] = {}
        self._dirty = False
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(stored, dict):
                self._texts = {k: v for k, v in stored.items() if isinstance(v, str)}
        except (OSError, ValueError):
            pass  # no cache yet, or a damaged one: it only costs reading the images again

    def get(self, digest: str) -> str | None:
        return self._texts.get(digest)

    def put(self, digest: str, text: str) -> None:
        self._texts[digest] = text
        self._dirty = True

    def save(self) -> None:
        if self._dirty:
            atomic_write_text(self.path, json.dumps(self._texts, ensure_ascii=False))
            self._dirty = False


# -- reading them --------------------------------------------------------------------


@dataclass(frozen=True)
class ImageText:
    """What an embedded image says: ``image`` is its path in the notes folder."""

    embed: ImageEmbed
    image: str
    text: str


@dataclass
class ImageReading:
    texts: list[ImageText] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    images: set[str] = field(default_factory=set)  # the paths of every embedded image found
    read: int = 0  # images the engine read in this build (the others came from the cache)


def read_note_images(notes: list[Note], notes_dir: Path, cache_dir: Path) -> ImageReading:
    """The text of every PNG and JPEG the notes embed: from the cache when an image was read
    before, else by the worker (``read_in_worker``), started only when some image needs it."""
    reading = ImageReading()
    located = _locate(notes, Path(notes_dir), reading)
    paths = {digest: path for _, _, digest, path in located}  # one file per content
    cache = OcrCache(cache_dir)
    texts = {digest: cache.get(digest) for digest in paths}
    pending = sorted(digest for digest, text in texts.items() if text is None)
    if pending and (reason := ocr_missing()):
        reading.warnings.append(
            f"no se lee el texto de {len(pending)} imagen(es) de las notas: {reason}"
        )
        pending = []
    if pending:
        outcomes = read_in_worker([paths[digest] for digest in pending])
        for digest in pending:
            outcome = outcomes[paths[digest]]
            if isinstance(outcome, OcrError):
                name = paths[digest].relative_to(notes_dir).as_posix()
                reading.warnings.append(f"{name}: no se pudo leer su texto ({outcome})")
                continue
            texts[digest] = outcome
            cache.put(digest, outcome)
            reading.read += 1
        cache.save()
    for embed, image, digest, _ in located:
        if text := tidy(texts.get(digest) or ""):
            reading.texts.append(ImageText(embed, image, text))
    return reading


def _locate(
    notes: list[Note], notes_dir: Path, reading: ImageReading
) -> list[tuple[ImageEmbed, str, str, Path]]:
    """(embed, image path, sha256 of its bytes, file) for each image a note embeds, once
    per note; an image that cannot be opened or is too big is a warning instead."""
    finder = ImageFinder(notes_dir)
    digests: dict[str, str] = {}  # image path -> sha256 ("" when it cannot be used)
    located = []
    for note in notes:
        seen: set[str] = set()
        for embed in find_image_embeds(note):
            path = finder.path(embed)
            if path is None:
                continue
            image = path.relative_to(notes_dir).as_posix()
            if image in seen:  # the same image twice in one note: one chunk
                continue
            seen.add(image)
            reading.images.add(image)
            if image not in digests:
                digests[image] = _digest(path, image, reading.warnings)
            if digests[image]:
                located.append((embed, image, digests[image], path))
    return located


def _digest(path: Path, image: str, warnings: list[str]) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        warnings.append(f"{image}: no se pudo abrir la imagen ({err.strerror}), se omite su texto")
        return ""
    if len(data) > MAX_OCR_BYTES:
        warnings.append(
            f"{image}: imagen demasiado grande para leer su texto "
            f"({len(data) / 1e6:.1f} MB; el límite es {MAX_OCR_BYTES / 1e6:.0f} MB)"
        )
        return ""
    try:  # here, not in the worker: a broken image starts no worker at every re-index
        check_image(data)
    except OcrError as err:
        warnings.append(f"{image}: no se pudo leer su texto ({err})")
        return ""
    return hashlib.sha256(data).hexdigest()


def check_image(data: bytes) -> None:
    """OcrError unless ``data`` looks like an image Pillow can open (its header and, for
    a PNG, its chunks' checksums: ``Image.verify``)."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise OcrError(f"no es una imagen válida ({type(err).__name__})") from None
    except (OSError, ValueError, SyntaxError) as err:
        raise OcrError(f"no es una imagen válida ({str(err)[:80]})") from None


def tidy(text: str) -> str:
    """OCR output as note text: lines stripped, runs of blank lines one, no form feeds."""
    lines = [line.strip() for line in text.replace("\f", "\n").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


if __name__ == "__main__":
    worker()
