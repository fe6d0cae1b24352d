"""Formulas typeset in a real browser (Debian's chromium, headless, through playwright;
never `playwright install`): in the note preview, in the chat's answer and its source
card, and on a study card, ``$…$`` and ``$$…$$`` are KaTeX's MathML, never ``$`` text, and
no formula is a KaTeX error. Nothing is fetched: KaTeX is in the page's head
(assistant/web/static/katex/). Screenshots go to /tmp/math_*.png."""

from __future__ import annotations

import shutil

import pytest

from tests.browser import wait_ms
from tests.served import served_app
from tests.test_app import fake_factory
from tests.test_vault import VAULT

pytestmark = pytest.mark.slow

WAIT_MS = 60_000
# A study card with a formula on each side: a cloze's front keeps the formula, a
# question's back holds it.
NORM_NOTE = """# Norma

## ¿Cómo se calcula la norma de un vector?

La norma euclídea es la raíz $\\sqrt{x^2 + y^2}$ de la suma de los cuadrados.
"""
# The chat's scripted answer, a formula in it, cited to the passage it comes from; the
# question has one too (the student's bubble typesets it).
ANSWER = "La atención se calcula como $\\text{softmax}(QK^T/\\sqrt{d_k})V$ [1]."
QUESTION = "¿Qué pondera la atención de los tokens con $\\text{softmax}$?"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    notes = tmp_path_factory.mktemp("math-notes")
    shutil.copy(VAULT / "Atención.md", notes / "Atención.md")
    (notes / "Norma.md").write_text(NORM_NOTE, encoding="utf-8")
    work = tmp_path_factory.mktemp("math-app")
    with served_app(work, fake_factory(ANSWER), notes=notes) as (url, _app):
        yield url


def typeset(page, selector: str) -> None:
    """Wait until ``selector`` holds a formula typeset by KaTeX, then check that all of
    its formulas are: MathML, no error, no "$" left in its text."""
    page.locator(f"{selector} .katex math").first.wait_for(timeout=wait_ms(WAIT_MS))
    page.wait_for_function(
        "(s) => !document.querySelector(`${s} .math:not([data-typeset])`)",
        arg=selector,
        timeout=wait_ms(WAIT_MS),
    )
    region = page.locator(selector)
    assert region.locator(".katex-error").count() == 0
    assert "$" not in region.inner_text()


def test_the_note_preview_typesets_inline_and_displayed_formulas(browser, served):
    page = browser.new_page(viewport={"width": 1360, "height": 800})
    try:
        page.goto(served, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Notas").click()
        page.locator("#to-preview input").wait_for(timeout=wait_ms(WAIT_MS))
        page.locator("#to-preview input").click()
        page.get_by_role("option", name="Atención.md").click()
        selector = '#note-preview .note-preview[data-note="Atención.md"]'
        page.locator(selector).wait_for(timeout=wait_ms(WAIT_MS))
        typeset(page, selector)
        preview = page.locator(selector)
        assert preview.locator(".math.inline .katex math").count() == 1
        assert preview.locator('.math.display .katex math[display="block"]').count() == 1
        tex = preview.locator(".math.inline annotation").text_content()
        assert tex == r"\text{softmax}(QK^T/\sqrt{d_k})V"  # the note's TeX, untouched
        # Drawn, not an empty box: MathML has a size of its own.
        box = preview.locator(".math.display math").bounding_box()
        assert box and box["width"] > 150 and box["height"] > 20
        page.screenshot(path="/tmp/math_preview.png", full_page=True)
    finally:
        page.close()


def test_the_chat_answer_and_its_source_card_typeset_formulas(browser, served):
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    try:
        page.goto(served, wait_until="domcontentloaded")
        box = page.locator("#question textarea")
        box.wait_for(timeout=wait_ms(WAIT_MS))
        box.fill(QUESTION)
        box.press("Enter")
        bot = '#chat [data-testid="bot"]'
        page.locator(f"{bot} .timings").wait_for(timeout=wait_ms(WAIT_MS))
        typeset(page, bot)
        typeset(page, '#chat [data-testid="user"]')
        assert page.locator(f"{bot} .math.inline annotation").first.text_content() == (
            r"\text{softmax}(QK^T/\sqrt{d_k})V"
        )
        card = "#sources .source-card:not([hidden])"
        typeset(page, card)
        assert page.locator(f"{card} .passage .math .katex math").count() >= 1
        page.screenshot(path="/tmp/math_chat.png", full_page=True)
    finally:
        page.close()


def test_a_study_card_typesets_its_formulas(browser, served):
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    try:
        page.goto(served, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Estudiar").click()
        page.locator("#study-front .study-front").wait_for(timeout=wait_ms(WAIT_MS))
        page.locator("#study-reveal").click()
        page.locator("#study-back .source-card").wait_for(timeout=wait_ms(WAIT_MS))
        typeset(page, "#study-back .source-card")
        front, back = "#study-front .study-front", "#study-back .study-back"
        # One side of either card holds the formula; neither shows a "$".
        page.locator(f"{front} .katex math, {back} .katex math").first.wait_for(
            timeout=wait_ms(WAIT_MS)
        )
        for side in (front, back):
            assert "$" not in page.locator(side).inner_text()
            assert page.locator(f"{side} .katex-error").count() == 0
        page.screenshot(path="/tmp/math_study.png", full_page=True)
    finally:
        page.close()
