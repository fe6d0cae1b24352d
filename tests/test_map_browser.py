"""The Mapa tab in a real browser (Debian's chromium, headless, through playwright; never
`playwright install`): the default notes drawn by the vendored vis-network as a canvas of
notes, sections and key terms; a real click on a section node shows its text and its
study cards, a chip of its panel opens a term, and "Preguntar" puts the section's
question in the Chat tab's box. The screenshot is written to /tmp/map.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import wait_ms
from tests.served import served_app
from tests.test_app import fake_factory

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/map.png")
WAIT_MS = 60_000
TITLE = "Preguntas y respuestas sobre NLP y LLMs"
SECTION = f"section:preguntas_nlp_llm.md#{TITLE} > 13. ¿Qué es Self-Attention?"


@pytest.fixture(scope="module")
def served(browser, tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("map-app"), fake_factory()) as (url, _app):
        yield url


def drawn_map(page, url: str):
    """The Mapa tab opened and its network laid out (map.js marks it data-ready)."""
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Mapa").click()
    page.locator(".notes-map[data-ready]").wait_for(timeout=wait_ms(WAIT_MS))
    return page.locator(".notes-map canvas")


def click_node(page, node_id: str) -> None:
    """A real mouse click on the node: centred and zoomed in by vis-network's own API
    (so no other node covers it), then clicked at its place on the canvas."""
    x, y = page.evaluate(
        """(id) => {
            const network = document.querySelector('.notes-map').visNetwork;
            network.focus(id, {scale: 1.4, animation: false});
            const at = network.canvasToDOM(network.getPositions([id])[id]);
            const box = document.querySelector('.notes-map canvas').getBoundingClientRect();
            return [box.left + at.x, box.top + at.y];
        }""",
        node_id,
    )
    page.mouse.click(x, y)


@pytest.fixture
def page(browser, served):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def test_the_map_draws_the_notes_sections_and_shared_terms(page, served):
    canvas = drawn_map(page, served)
    assert canvas.count() == 1 and canvas.bounding_box()["width"] > 400
    groups = page.evaluate(
        """() => {
            const network = document.querySelector('.notes-map').visNetwork;
            const counts = {};
            network.body.data.nodes.forEach((node) => {
                counts[node.group] = (counts[node.group] || 0) + 1;
            });
            return counts;
        }"""
    )
    # Two notes (each its title), their sections, and the terms they share.
    assert groups["note"] == 2
    assert groups["section"] > 60
    assert 10 <= groups["term"] <= 48
    legend = page.locator(".notes-map .map-legend").inner_text()
    assert f"{groups['term']} términos clave" in legend
    # Every node drawn inside the canvas once laid out (fit to the view).
    inside = page.evaluate(
        """() => {
            const network = document.querySelector('.notes-map').visNetwork;
            const box = document.querySelector('.notes-map canvas').getBoundingClientRect();
            return Object.values(network.getPositions()).every((p) => {
                const at = network.canvasToDOM(p);
                return at.x >= 0 && at.y >= 0 && at.x <= box.width && at.y <= box.height;
            });
        }"""
    )
    assert inside


def test_a_click_on_a_section_shows_its_text_cards_and_question(page, served):
    drawn_map(page, served)
    click_node(page, SECTION)
    panel = page.locator(f'#map-detail .map-detail[data-node="{SECTION}"]')
    panel.wait_for(timeout=wait_ms(WAIT_MS))
    assert "13. ¿Qué es Self-Attention?" in panel.locator(".map-title").inner_text()
    # The section's own text, rendered as the note preview renders it.
    passage = panel.locator(".map-passage .passage.md")
    assert "una variante del mecanismo de atención" in passage.inner_text()
    assert passage.locator("strong", has_text="El gato persigue al ratón").count() == 1
    # Its cards, front shown and back behind a click.
    cards = panel.locator(".map-card")
    assert cards.count() >= 1
    assert "Tarjetas de esta sección" in panel.inner_text()
    first = cards.first
    assert not first.locator(".map-card-back").is_visible()
    first.locator("summary").click()
    assert first.locator(".map-card-back").is_visible()
    # Its key terms, one of them Self-Attention.
    chip = panel.locator(".map-chip.term", has_text="Self-Attention")
    assert chip.count() == 1
    assert page.evaluate(
        "(id) => document.querySelector('.notes-map').visNetwork.getSelectedNodes()[0] === id",
        SECTION,
    )
    # The section's neighbourhood at a reading zoom, the pointer off the map (no tooltip).
    page.evaluate(
        "(id) => document.querySelector('.notes-map').visNetwork"
        ".focus(id, {scale: 0.8, animation: false})",
        SECTION,
    )
    page.mouse.move(5, 5)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    ask = page.locator("#map-ask")
    assert "¿Qué es Self-Attention?" in ask.inner_text()
    ask.click()
    page.wait_for_function(
        "() => document.querySelector('#question textarea').value === '¿Qué es Self-Attention?'",
        timeout=wait_ms(WAIT_MS),
    )
    chat = page.get_by_role("tab", name="Chat")
    page.wait_for_function(
        "(tab) => tab.getAttribute('aria-selected') === 'true'",
        arg=chat.element_handle(),
        timeout=wait_ms(WAIT_MS),
    )


def test_a_term_chip_opens_the_term_and_its_sections(page, served):
    drawn_map(page, served)
    click_node(page, SECTION)
    panel = page.locator(f'#map-detail .map-detail[data-node="{SECTION}"]')
    panel.wait_for(timeout=wait_ms(WAIT_MS))
    panel.locator(".map-chip.term", has_text="Self-Attention").click()
    term = page.locator('#map-detail .map-detail[data-node^="term:"]')
    term.wait_for(timeout=wait_ms(WAIT_MS))
    assert "Término · Self-Attention" in term.inner_text()
    sections = term.locator(".map-chip.section")
    assert sections.count() >= 2
    assert sections.filter(has_text="13. ¿Qué es Self-Attention?").count() == 1
    assert "¿Qué es Self-Attention?" in page.locator("#map-ask").inner_text()
