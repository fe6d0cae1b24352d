"""An Obsidian vault in the app, in a real browser (Debian's chromium, headless, through
playwright; never `playwright install`): the note preview draws a callout as a box, an
embedded image of the folder, and a link to a missing note as grey text, and a [[link]]
opens its note there, scrolled to the linked section; one in a chat's source card opens the
Notas tab at its note. The screenshot is written to /tmp/vault_preview.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import wait_ms
from tests.served import served_app
from tests.test_app import fake_factory
from tests.test_vault import VAULT, _png

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/vault_preview.png")
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("vault-app"), fake_factory(), notes=VAULT) as (
        url,
        app,
    ):
        # The image the note embeds, drawn into the app's copy of the vault.
        _png(app.notes_dir / "adjuntos" / "diagrama-atencion.png")
        yield url


def test_a_wikilink_in_the_preview_opens_its_note_at_its_section(browser, served):
    context = browser.new_context(viewport={"width": 1360, "height": 700})
    page = context.new_page()
    try:
        page.goto(served, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Notas").click()
        page.locator("#to-preview input").wait_for(timeout=wait_ms(WAIT_MS))
        page.locator("#to-preview input").click()
        page.get_by_role("option", name="Atención.md").click()
        shown = page.locator('#note-preview .note-preview[data-note="Atención.md"]')
        shown.wait_for(timeout=wait_ms(WAIT_MS))
        callout = shown.locator("blockquote.callout.callout-note")
        assert callout.locator(".callout-title").inner_text() == "Idea clave"
        assert "[!note]" not in shown.inner_text() and "tags:" not in shown.inner_text()
        assert "Etiquetas: #nlp #transformers" in shown.locator(".note-properties").inner_text()
        image = shown.locator('img.note-image[alt="diagrama-atencion.png"]')
        assert image.evaluate("e => e.complete && e.naturalWidth") == 120  # drawn, not a name
        missing = shown.locator(".wikilink.missing")
        assert missing.inner_text() == "Historia del Transformer"
        assert missing.evaluate("e => e.tagName") == "SPAN"  # not a link
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        shown.locator("a.wikilink", has_text="embeddings contextuales").click()
        target = page.locator('#note-preview .note-preview[data-note="Temas/Embeddings.md"]')
        target.wait_for(timeout=wait_ms(WAIT_MS))
        heading = target.locator("h2", has_text="Contextuales")
        page.wait_for_function(
            "() => { const h = [...document.querySelectorAll('#note-preview h2')]"
            ".find(e => e.textContent.trim() === 'Contextuales');"
            " if (!h) return false; const r = h.getBoundingClientRect();"
            " return r.top >= 0 && r.top < window.innerHeight; }",
            timeout=wait_ms(WAIT_MS),
        )
        assert heading.is_visible()
        # The picker follows: the note shown is the one named there.
        assert page.locator("#to-preview input").input_value() == "Temas/Embeddings.md"
        # Back by a link in the other note, then forward again: the same note linked a
        # second time still opens.
        target.locator("a.wikilink", has_text="Atención").first.click()
        shown.wait_for(timeout=wait_ms(WAIT_MS))
        shown.locator("a.wikilink", has_text="embeddings contextuales").click()
        target.wait_for(timeout=wait_ms(WAIT_MS))
    finally:
        context.close()


def test_a_wikilink_in_a_chat_source_opens_its_note_in_the_notas_tab(browser, served):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    try:
        page.goto(served, wait_until="domcontentloaded")
        box = page.locator("#question textarea")
        box.wait_for(timeout=wait_ms(WAIT_MS))
        box.fill("¿Qué pondera la atención de los tokens?")
        box.press("Enter")
        page.locator('#chat [data-testid="bot"] .timings').wait_for(timeout=wait_ms(WAIT_MS))
        link = page.locator("#sources .source-card:not([hidden]) a.wikilink").first
        link.wait_for(timeout=wait_ms(WAIT_MS))
        note = link.get_attribute("data-note")
        link.click()
        page.locator(f'#note-preview .note-preview[data-note="{note}"]').wait_for(
            timeout=wait_ms(WAIT_MS)
        )
        assert page.get_by_role("tab", name="Notas").get_attribute("aria-selected") == "true"
    finally:
        context.close()
