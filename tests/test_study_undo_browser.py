"""Scheduling like Anki in the Estudiar tab, in a real browser (Debian's chromium, headless,
through playwright; tests/browser.py): each rating button says the interval it gives
("Bien · 10 min" for a new card), "Deshacer" brings the card just rated back to the screen
and takes its review out of the deck, and the daily new-card limit typed in the tab is
saved in the deck and changes what is due. The screenshot (the back of a card with its
buttons and the settings) is written to /tmp/study_undo.png; set
STUDY_ASSISTANT_SCREENSHOT_UNDO=PATH to keep a copy."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from assistant.study.deck import Deck
from assistant.study.schedule import interval_text, preview
from tests.browser import wait_ms
from tests.served import served_app
from tests.test_study_browser import (
    no_chat,
    open_study_tab,
    reveal,
    wait_for_next_card,
    wait_for_text,
)

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/study_undo.png")
WAIT_MS = 30_000
FRONT = "#study-front .study-front"


@pytest.fixture(scope="module")
def served(browser, tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("study-undo"), no_chat) as (url, app):
        yield url, app.study.deck_path


def button_texts(page) -> list[str]:
    """The rating buttons' labels, their no-break spaces as spaces."""
    return [
        page.locator(f"#study-rate-{key}").inner_text().strip().replace("\xa0", " ")
        for key in "1234"
    ]


def wait_for_intervals(page) -> None:
    page.wait_for_function(  # the labels come with the card's redraw
        "() => document.querySelector('#study-rate-3').innerText.includes('·')",
        timeout=wait_ms(WAIT_MS),
    )


def test_the_buttons_show_their_intervals_and_undo_brings_the_card_back(browser, served):
    url, deck_path = served
    page = open_study_tab(browser, url)
    front = page.locator(FRONT).inner_text().strip()
    assert page.locator("#study-undo").count() == 0 or not page.locator("#study-undo").is_visible()
    reveal(page)
    wait_for_intervals(page)
    labels = button_texts(page)
    assert labels[:3] == ["Otra vez · 1 min", "Difícil · 6 min", "Bien · 10 min"]
    assert re.fullmatch(r"Fácil · \d+ d", labels[3]), labels
    with Deck.open(deck_path) as deck:  # what FSRS gives the card on screen
        (row,) = [r for r in deck.due() if r.card.front == front][:1]
        easy = interval_text(preview(row.state, row.state.due, deck.config)["easy"])
        reviews = len(deck.reviews())
    assert labels[3] == f"Fácil · {easy}"

    page.locator("#study-rate-1").click()  # Otra vez
    wait_for_next_card(page, front)
    wait_for_text(page, "#study-progress", "1 repasada en esta sesión")
    undo = page.locator("#study-undo")
    undo.wait_for(state="visible", timeout=wait_ms(WAIT_MS))
    with Deck.open(deck_path) as deck:
        assert len(deck.reviews()) == reviews + 1
    reveal(page)  # the screenshot: the next card's back, its intervals, "Deshacer"
    wait_for_intervals(page)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    if target := os.environ.get("STUDY_ASSISTANT_SCREENSHOT_UNDO"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOT, target)

    undo.click()
    page.wait_for_function(
        "(front) => { const el = document.querySelector('#study-front .study-front');"
        " return el && el.innerText.trim() === front; }",
        arg=front,
        timeout=wait_ms(WAIT_MS),
    )
    wait_for_text(page, "#study-progress", "0 repasadas en esta sesión")
    assert page.locator("#study-back .study-back").count() == 0  # front first, again
    undo.wait_for(state="hidden", timeout=wait_ms(WAIT_MS))
    with Deck.open(deck_path) as deck:
        assert len(deck.reviews()) == reviews
        assert deck.get(row.card.id) == row  # its state as before the rating
    reveal(page)
    assert button_texts(page) == labels
    page.close()


def test_the_daily_new_cards_typed_in_the_tab_are_saved_and_change_what_is_due(browser, served):
    url, deck_path = served
    page = open_study_tab(browser, url)
    box = page.locator("#study-new-per-day input")
    box.wait_for(state="visible", timeout=wait_ms(WAIT_MS))
    page.wait_for_function(  # the deck's value, once the tab is drawn
        "() => document.querySelector('#study-new-per-day input').value === '20'",
        timeout=wait_ms(WAIT_MS),
    )
    box.fill("3")
    box.press("Enter")
    wait_for_text(page, "#study-progress", "3 pendientes hoy")
    with Deck.open(deck_path) as deck:
        assert deck.config.new_per_day == 3 and len(deck.due()) == 3
    box.fill("20")
    box.press("Enter")
    wait_for_text(page, "#study-progress", "20 pendientes hoy")
    page.close()
