"""Issue 28's rough edges mended in the page's look, in a real browser: in a narrow window
the experiments' grid wraps its long headers and scrolls instead of being cut off on the
right (app.py's ``wrap=True``; Gradio gives the grid's block ``overflow: auto`` and scrolls
the table in a viewport of its own), and an answer's "Fuentes:" line reads quieter than
the answer (app.css's ``.sources-line``). Debian's chromium driven headless by playwright
(the `browser` fixture, tests/browser.py), the app served in this process over a copy of
the default notes with fake models (tests/served.py); the grid is the published one the
tab opens on. Screenshots: /tmp/experiments_grid_narrow.png and /tmp/chat_sources_line.png.

The grid test fails when nothing around the grid scrolls (checked by forcing ``overflow:
visible`` on it and every element inside) and without ``wrap=True``. app.css's old
``#exp-table { overflow-x: auto }`` changed nothing under Gradio 6.31 and was removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import wait_ms
from tests.served import served_app
from tests.test_app import QUESTION, fake_factory
from tests.test_app_fixes_browser import WAIT_MS, open_chat

pytestmark = pytest.mark.slow

GRID_SHOT = Path("/tmp/experiments_grid_narrow.png")
SOURCES_SHOT = Path("/tmp/chat_sources_line.png")
NARROW = {"width": 700, "height": 900}  # a half-screen window: the grid is wider


@pytest.fixture(scope="module")
def served(browser, tmp_path_factory):
    """The app's address, on a free port over a copy of the default notes."""
    with served_app(tmp_path_factory.mktemp("rough-edges-app"), fake_factory()) as (url, _):
        yield url


def new_page(browser, viewport: dict):
    return browser.new_context(viewport=viewport).new_page()


# The grid's last header cell, the element that scrolls it sideways (the nearest one, from
# that cell up to #exp-table, that may scroll and is narrower than what it holds), whether
# the page itself is wider than the window, and the most lines a header's text takes.
GRID_BOXES = """() => {
    const grid = document.querySelector('#exp-table');
    const headers = grid.querySelectorAll('th');
    const last = headers[headers.length - 1];
    let scroller = null;
    for (let e = last.parentElement; e && !scroller; e = e.parentElement) {
        const scrolls = ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
        if (scrolls && e.scrollWidth > e.clientWidth + 1) scroller = e;
        if (e === grid) break;
    }
    const page = document.documentElement;
    const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.right]; };
    const lines = (cell) => {  // how many lines its text takes
        const tops = new Set();
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
            const range = document.createRange();
            range.selectNodeContents(text);
            for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
        }
        return tops.size;
    };
    if (scroller) scroller.scrollLeft = scroller.scrollWidth;
    return {
        scrolls: scroller !== null,
        scroller: scroller ? box(scroller) : null,
        last_header: box(last),
        grid: box(grid),
        window: window.innerWidth,
        page_overflow: page.scrollWidth - page.clientWidth,
        header_lines: Math.max(...[...headers].map(lines)),
    };
}"""


def test_a_wide_grid_scrolls_in_a_narrow_window_instead_of_being_cut_off(browser, served):
    page = new_page(browser, NARROW)
    open_chat(page, served)  # the page drawn (loaded once more if it came too late)
    page.get_by_role("tab", name="Experimentos").click(timeout=wait_ms(WAIT_MS))
    page.get_by_text("Experimento completo publicado").wait_for(timeout=wait_ms(WAIT_MS))
    page.locator("#exp-table th").last.wait_for(timeout=wait_ms(WAIT_MS))
    boxes = page.evaluate(GRID_BOXES)
    assert boxes["scrolls"], boxes  # its columns are wider than the window, and it scrolls
    assert boxes["page_overflow"] <= 0 and boxes["grid"][1] <= boxes["window"], boxes
    assert boxes["header_lines"] >= 2, boxes  # a long Spanish header wraps (wrap=True)
    page.wait_for_timeout(300)  # the scroll to the right end, drawn
    boxes = page.evaluate(GRID_BOXES)
    left, right = boxes["scroller"]
    # Scrolled to its end, the last column is inside the grid's box: reachable, not cut.
    assert left <= boxes["last_header"][0] and boxes["last_header"][1] <= right + 1, boxes
    page.locator("#exp-table").screenshot(path=str(GRID_SHOT))
    page.context.close()


# Font size and weight of the answer's first paragraph and its citation marks, and of the
# "Fuentes:" line under it and its links.
SOURCES_STYLE = """() => {
    const line = document.querySelector('#chat [data-testid="bot"] .sources-line');
    const answer = line.closest('.message-content').querySelector('p');
    const style = (e) => getComputedStyle(e);
    return {
        answer_px: parseFloat(style(answer).fontSize),
        line_px: parseFloat(style(line).fontSize),
        cite_weight: Number(style(answer.querySelector('.cite')).fontWeight),
        link_weight: Number(style(line.querySelector('.cite-source')).fontWeight),
    };
}"""


def test_the_sources_line_reads_quieter_than_the_answer(browser, served):
    page = new_page(browser, {"width": 1360, "height": 900})
    box = open_chat(page, served)
    box.fill(QUESTION)
    box.press("Enter")
    reply = page.locator('#chat [data-testid="bot"]').first
    reply.locator(".sources-line").wait_for(timeout=wait_ms(WAIT_MS))
    style = page.evaluate(SOURCES_STYLE)
    # Smaller than the answer, still readable; its links lighter than the answer's [n].
    assert 0.75 * style["answer_px"] <= style["line_px"] < style["answer_px"], style
    assert style["link_weight"] < style["cite_weight"], style
    reply.locator(".timings").wait_for(timeout=wait_ms(WAIT_MS))
    reply.screenshot(path=str(SOURCES_SHOT))
    page.context.close()
