"""Text in images (issue 27, item 3): the PNG and JPEG images a note embeds are read by OCR
at index time; their text is a chunk of the note, "imagen en <nota>", found by search,
drawn with its image, read once per image content, and a broken image is one warning.

The vault's PNG is drawn here with Pillow (a distinctive Spanish phrase, with ñ and ü),
and read by the real engine (RapidOCR, a requirement): without it these tests fail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import corpus.ocr as ocr
from corpus.chunking import image_label
from corpus.config import ChunkConfig
from corpus.images import ImageEmbed, ImageFinder, find_image_embeds
from corpus.ocr import ocr_missing
from corpus.records import Note
from index.config import IndexConfig
from index.store import NotesIndex, build_index
from tests.fakes import HashEmbedder

VAULT = Path(__file__).parent / "data" / "vault"
PHRASE = "La cigüeña pondera al pingüino"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def draw_png(path: Path, text: str = PHRASE) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (900, 160), "white")
    ImageDraw.Draw(image).text((30, 50), text, font=ImageFont.truetype(FONT, 40), fill="black")
    image.save(path)
    return path


def make_vault(folder: Path) -> Path:
    """The fixture vault, its embedded diagrama-atencion.png drawn, and a note that embeds
    a broken image, a missing one and the same image again (Markdown syntax)."""
    shutil.copytree(VAULT, folder)
    draw_png(folder / "adjuntos" / "diagrama-atencion.png")
    (folder / "adjuntos" / "rota.png").write_bytes(b"\x89PNG\r\n\x1a\nesto no es una imagen")
    (folder / "Galería.md").write_text(
        "# Galería\n\n![[rota.png]]\n\n![[no-existe.png]]\n\n"
        "![esquema](adjuntos/diagrama-atencion.png)\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The vault indexed once with the real OCR engine (a fake embedder): its folder, the
    index folder, the cache folder and the build's report."""
    work = tmp_path_factory.mktemp("ocr")
    vault = make_vault(work / "vault")
    with pytest.MonkeyPatch.context() as patch:
        from index import embedders

        fake = HashEmbedder()
        patch.setitem(embedders.EMBEDDERS, fake.name, lambda: fake)
        patch.setitem(embedders._loaded, fake.name, fake)
        config = IndexConfig(embedder=fake.name)
        report = build_index(vault, work / "index", index_config=config, cache_dir=work / "cache")
        yield vault, work / "index", work / "cache", report


def test_the_ocr_engine_is_installed():
    assert ocr_missing() is None  # make setup installs it (requirements.txt)


def test_an_embedded_png_is_found_by_search_after_index(built):
    vault, index_dir, _, report = built
    assert report.images == 2 and report.ocr_read == 1  # one image, embedded by two notes
    index = NotesIndex.load(index_dir)
    hit = index.search("cigüeña pingüino", k=3)[0]
    assert hit.chunk.image == "adjuntos/diagrama-atencion.png"
    assert PHRASE in hit.chunk.text
    assert hit.chunk.source in {"Atención.md", "Galería.md"}
    by_note = {c.source: c for c in index.chunks if c.image}
    assert set(by_note) == {"Atención.md", "Galería.md"}
    atencion = by_note["Atención.md"]
    assert atencion.heading == "imagen en Atención"
    assert atencion.tags == ("nlp", "transformers")  # the note's, as its other chunks
    assert atencion.section == "Atención"  # the heading the image sits under
    note = (vault / "Atención.md").read_text(encoding="utf-8")
    assert note[atencion.start : atencion.end] == "![[diagrama-atencion.png]]"
    assert hit.to_json()["image"] == "adjuntos/diagrama-atencion.png"


def test_the_image_is_no_unsupported_file_and_a_broken_one_is_one_warning(built):
    _, _, _, report = built
    about_rota = [w for w in report.warnings if "rota.png" in w]
    assert len(about_rota) == 1 and about_rota[0].startswith("adjuntos/rota.png: ")
    assert "no se pudo leer su texto" in about_rota[0]
    assert not any("diagrama-atencion.png" in w or "no-existe" in w for w in report.warnings)
    assert report.notes == 4  # the rest indexed as usual


def test_the_citation_is_imagen_en_nota_and_the_card_draws_the_image(built, fake_embedder):
    from assistant.citations import Citation
    from assistant.web.evidence import highlight_html
    from assistant.web.note_images import NoteLinks

    vault, index_dir, _, _ = built
    index = NotesIndex.load(index_dir)
    hit = next(h for h in index.search("cigüeña pingüino", k=3) if h.chunk.image)
    citation = Citation.from_hit(1, hit)
    assert citation.heading == image_label(citation.source)
    assert citation.heading in ("imagen en Atención", "imagen en Galería")
    assert citation.image == "adjuntos/diagrama-atencion.png"
    assert Citation(**json.loads(json.dumps(citation.to_json()))) == citation  # a saved chat
    links = NoteLinks(vault, {c.source for c in index.chunks})
    card = highlight_html(citation.text, citation.source, None, links)
    assert '<img class="note-image" src="data:image/png;base64,' in card
    assert "pingüino" in card


def test_an_unchanged_image_is_not_read_again(built, tmp_path, monkeypatch, fake_config):
    vault = shutil.copytree(built[0], tmp_path / "vault")
    cache = shutil.copytree(built[2], tmp_path / "cache")  # what the first build read
    asked: list[list[str]] = []

    def counting(paths):
        asked.append([p.name for p in paths])
        return {path: "Texto nuevo de la imagen" for path in paths}

    monkeypatch.setattr(ocr, "read_in_worker", counting)
    # Another folder, another index: the image is known by its content.
    first = build_index(vault, tmp_path / "index", index_config=fake_config, cache_dir=cache)
    again = build_index(vault, tmp_path / "index", cache_dir=cache)
    assert asked == [] and first.ocr_read == again.ocr_read == 0
    assert first.images == again.images == 2
    draw_png(vault / "adjuntos" / "diagrama-atencion.png", "Un texto distinto")
    changed = build_index(vault, tmp_path / "index", cache_dir=cache)
    assert asked == [["diagrama-atencion.png"]] and changed.ocr_read == 1
    texts = [c.text for c in NotesIndex.load(tmp_path / "index").chunks if c.image]
    assert texts and all(t.endswith("\n\nTexto nuevo de la imagen") for t in texts)


def _vault(tmp_path: Path) -> Path:
    vault = tmp_path / "vault"
    shutil.copytree(VAULT, vault)
    draw_png(vault / "diagrama-atencion.png")
    return vault


def test_without_ocr_no_image_is_read(tmp_path, monkeypatch, fake_embedder, fake_config):
    monkeypatch.setattr(ocr, "read_in_worker", lambda paths: pytest.fail("OCR ran"))
    report = build_index(
        _vault(tmp_path), tmp_path / "i", ChunkConfig(ocr=False), fake_config, tmp_path / "c"
    )
    assert report.images == 0
    assert not any(c.image for c in NotesIndex.load(tmp_path / "i").chunks)
    assert NotesIndex.load(tmp_path / "i").chunk_config.ocr is False  # kept in config.json


def test_a_missing_engine_is_one_warning_and_the_notes_index(
    tmp_path, monkeypatch, fake_embedder, fake_config
):
    monkeypatch.setattr(ocr, "ocr_missing", lambda: "falta el lector; instálalo con make setup")
    monkeypatch.setattr(ocr, "read_in_worker", lambda paths: pytest.fail("OCR ran"))
    report = build_index(_vault(tmp_path), tmp_path / "i", index_config=fake_config)
    (warning,) = [w for w in report.warnings if "imagen" in w]
    assert warning == (
        "no se lee el texto de 1 imagen(es) de las notas: falta el lector; instálalo con make setup"
    )
    assert report.notes == 3 and report.images == 0


@pytest.mark.parametrize(
    "markdown, names",
    [
        ("![[a.png]] y ![[b.JPG|300]] y ![[c.jpeg#x]]", ["a.png", "b.JPG", "c.jpeg"]),
        (
            '![mapa](img/mapa.png) ![x](<con espacios.png> "título")',
            ["img/mapa.png", "con espacios.png"],
        ),
        ("![x](mi%20foto.jpg)", ["mi foto.jpg"]),
        (
            "[[a.png]] ![[Otra nota]] ![[anim.gif]] ![x](https://example.com/r.png)",
            ["https://example.com/r.png"],
        ),
        ("```\n![[codigo.png]]\n```\n\n`inline`", []),
    ],
)
def test_the_embeds_of_a_note_are_found_outside_code(markdown, names):
    note = Note("n.md", f"# T\n\n{markdown}\n", "0")
    embeds = find_image_embeds(note)
    assert [e.name for e in embeds] == names
    for embed in embeds:
        assert embed.section == "T"
        assert note.text[embed.start : embed.end].startswith("![")


def test_only_images_inside_the_notes_folder_are_read(tmp_path):
    vault = _vault(tmp_path)
    draw_png(vault / "Temas" / "local.png")
    outside = draw_png(tmp_path / "fuera.png")
    (vault / "enlace.png").symlink_to(outside)
    finder = ImageFinder(vault)

    def found(name: str, source: str = "Temas/Embeddings.md") -> str | None:
        path = finder.path(ImageEmbed(source, name, 0, 1, ""))
        return path.relative_to(vault).as_posix() if path else None

    assert found("local.png") == "Temas/local.png"  # beside the note
    assert found("diagrama-atencion.png") == "diagrama-atencion.png"  # from the folder
    assert found("local.png", "Atención.md") == "Temas/local.png"  # by name, anywhere
    for refused in ("enlace.png", "../fuera.png", str(outside), "https://x.org/a.png", "nada.png"):
        assert found(refused) is None, refused


def test_index_then_search_on_the_command_line_and_no_ocr(
    tmp_path, monkeypatch, capsys, fake_embedder, fake_config
):
    from assistant.cli.main import main

    monkeypatch.setattr(ocr, "read_in_worker", lambda paths: dict.fromkeys(paths, PHRASE))
    vault, index = _vault(tmp_path), str(tmp_path / "index")
    build_index(vault, index, ChunkConfig(ocr=False), fake_config)  # the fake embedder's
    reindex = ["index", "--notes", str(vault), "--index", index]

    def search() -> list[dict]:
        capsys.readouterr()
        assert main(["search", "--index", index, "--json", "cigüeña pingüino"]) == 0
        return json.loads(capsys.readouterr().out)

    assert not any("image" in hit for hit in search())
    assert main([*reindex, "--json"]) == 0  # the index keeps its chunking: still no OCR
    assert json.loads(capsys.readouterr().out)["images"] == 0
    assert main([*reindex, "--ocr"]) == 0
    assert "1 de imágenes" in capsys.readouterr().out
    (hit, *_) = search()
    assert hit["heading"] == "imagen en Atención" and PHRASE in hit["text"]
    assert main([*reindex, "--no-ocr", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 0
