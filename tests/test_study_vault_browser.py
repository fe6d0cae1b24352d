"""A study card from an Obsidian vault in a real browser (Debian's chromium, headless,
through playwright; never `playwright install`): once revealed, the card draws the image
its passage embeds (from the notes folder), typesets its formulas with KaTeX (the TeX
whole: "d_k", not "dk"), shows its own [[link]] as the link's text, a link to a missing
note as text, and a [[link]] of its passage opens the Notas tab's preview at that note,
as one in a chat's source card does. The screenshot is written to /tmp/study_vault.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser import wait_ms
from tests.served import served_app
from tests.test_app import fake_factory
from tests.test_math_browser import typeset
from tests.test_study_vault import SCALED, SCALED_NOTE
from tests.test_vault import VAULT, _png

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/study_vault.png")
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The vault and a note whose card comes first (a definition with formulas, its section
    holding the image and the links); the image is drawn once the app runs (the index
    does not read it: no OCR in this test)."""
    notes = tmp_path_factory.mktemp("study-vault") / "vault"
    shutil.copytree(VAULT, notes)
    (notes / SCALED).write_text(SCALED_NOTE, encoding="utf-8")
    work = tmp_path_factory.mktemp("study-vault-app")
    with served_app(work, fake_factory(), notes=notes) as (url, app):
        _png(app.notes_dir / "adjuntos" / "diagrama-atencion.png")
        yield url


def test_a_vault_card_shows_its_image_formulas_and_links(browser, served):
    context = browser.new_context(viewport={"width": 1360, "height": 1100})
    page = context.new_page()
    try:
        page.goto(served, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Estudiar").click()
        front = page.locator("#study-front .study-front")
        front.wait_for(timeout=wait_ms(WAIT_MS))
        assert front.inner_text() == "¿Qué es la atención escalada?"
        page.locator("#study-reveal").click()
        card = page.locator("#study-back .source-card")
        card.wait_for(timeout=wait_ms(WAIT_MS))
        typeset(page, "#study-back")

        # The image of the notes folder, drawn (not its name).
        image = card.locator('img.note-image[alt="diagrama-atencion.png"]')
        assert image.evaluate("e => e.complete && e.naturalWidth") == 120
        assert card.locator(".wikilink-embed").count() == 0
        # The back's formula is KaTeX's MathML of the note's TeX, underscore and all.
        back = page.locator("#study-back .study-back")
        assert back.locator(".math.inline annotation").nth(1).text_content() == r"\sqrt{d_k}"
        assert "[[" not in back.inner_text() and "de la Atención que" in back.inner_text()
        assert card.locator('.math.display .katex math[display="block"]').count() == 1
        missing = card.locator(".wikilink.missing")
        assert missing.inner_text() == "Historia del Transformer"
        assert missing.evaluate("e => e.tagName") == "SPAN"  # not a link
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # A [[link]] of the passage opens the Notas tab's preview at its note.
        card.locator('a.wikilink[data-note="Atención.md"]').click()
        page.locator('#note-preview .note-preview[data-note="Atención.md"]').wait_for(
            timeout=wait_ms(WAIT_MS)
        )
        assert page.get_by_role("tab", name="Notas").get_attribute("aria-selected") == "true"
    finally:
        context.close()
