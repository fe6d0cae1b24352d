"""Text in an image, in a real browser (Debian's chromium, headless, through playwright;
never `playwright install`): a question about what a slide in a note says is answered from
the image's text, and the chat's source card draws the image with it. The screenshot is
written to /tmp/ocr_card.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import wait_ms
from tests.served import served_app
from tests.test_app import fake_factory
from tests.test_ocr import PHRASE, make_vault

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/ocr_card.png")
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app over the fixture vault with its slide drawn: the index reads it by OCR."""
    work = tmp_path_factory.mktemp("ocr-app")
    vault = make_vault(work / "vault")
    with served_app(work, fake_factory(f"{PHRASE} [1]."), notes=vault) as (url, app):
        assert any(chunk.image for chunk in app.index.chunks)  # read at index time
        yield url


def test_a_passage_read_from_an_image_shows_the_image(browser, served):
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    try:
        page.goto(served, wait_until="domcontentloaded")
        box = page.locator("#question textarea")
        box.wait_for(timeout=wait_ms(WAIT_MS))
        box.fill("¿Qué pondera la cigüeña?")
        box.press("Enter")
        page.locator('#chat [data-testid="bot"] .timings').wait_for(timeout=wait_ms(WAIT_MS))
        card = page.locator("#sources .source-card:not([hidden])")
        card.wait_for(timeout=wait_ms(WAIT_MS))
        assert "imagen en" in card.locator(".source-title").inner_text()
        image = card.locator("img.note-image")
        assert image.evaluate("e => e.complete && e.naturalWidth") == 900  # the slide itself
        assert "pingüino" in card.locator(".passage").inner_text()  # with the text read
        page.screenshot(path=str(SCREENSHOT))
    finally:
        page.close()
