"""The Estudiar tab in a real browser: reveal a card, rate it with a click and with a key,
see the next card and the progress and statistics change; a written answer's proposed
rating, and a digit typed in the answer box that must stay a digit. Debian's chromium
driven headless by playwright (the `browser` fixture, tests/browser.py), as in
test_app_browser.py.

The app runs in this process (app.launch, as main() serves it) over a copy of the default
notes with the fake embedder and the word-overlap checker: the tab needs no chat model,
and its grading is the checker's (the chat is tested with the real models in
test_app_browser.py). Set STUDY_ASSISTANT_SCREENSHOT=PATH to keep a copy of the screenshot
(it is always written to /tmp/study_tab.png)."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from assistant.study.deck import Deck
from tests.browser import wait_ms
from tests.served import served_app

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/study_tab.png")
WAIT_MS = 30_000


def no_chat(index, settings):
    raise AssertionError("the study tab must not build the chat's assistant")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, deck path): the app on a free port, its notes, index, deck and study folder in
    a temp folder; Gradio's own files too."""
    with served_app(tmp_path_factory.mktemp("study-app"), no_chat) as (url, app):
        yield url, app.study.deck_path


def open_study_tab(browser, url: str):
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    # Gradio keeps a connection open, so "networkidle" never comes: wait for elements.
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Estudiar").click()
    page.locator("#study-front .study-front").wait_for(timeout=wait_ms(WAIT_MS))
    page.locator("#study-progress").get_by_text("pendientes hoy").wait_for(timeout=wait_ms(WAIT_MS))
    return page


def numbers(page) -> dict[str, int]:
    """What the progress and statistics lines say now."""
    progress = page.locator("#study-progress").inner_text()
    summary = page.locator("#study-stats").inner_text()
    found = {
        "due_today": re.search(r"(\d+) pendientes? hoy", progress),
        "session": re.search(r"(\d+) repasadas? en esta sesión", progress),
        "reviews": re.search(r"(\d+) repasos? en total", summary),
    }
    assert all(found.values()), f"progress: {progress!r}; statistics: {summary!r}"
    return {name: int(match.group(1)) for name, match in found.items()}


def wait_for_text(page, selector: str, text: str) -> None:
    page.locator(selector).get_by_text(text).wait_for(timeout=wait_ms(WAIT_MS))


def wait_for_next_card(page, front: str) -> str:
    """Wait until the front differs from ``front`` and the back is gone; the new front."""
    page.wait_for_function(
        "(front) => { const el = document.querySelector('#study-front .study-front');"
        " return el && el.innerText.trim() !== front"
        " && !document.querySelector('#study-back .study-back'); }",
        arg=front,
        timeout=wait_ms(WAIT_MS),
    )
    return page.locator("#study-front .study-front").inner_text().strip()


def reveal(page) -> None:
    page.locator("#study-reveal").click()
    page.locator("#study-back .source-card").wait_for(state="visible", timeout=wait_ms(WAIT_MS))
    page.locator("#study-rate-1").wait_for(state="visible", timeout=wait_ms(WAIT_MS))


def test_a_card_is_revealed_rated_by_click_and_by_key_and_the_next_one_comes(browser, served):
    url, _ = served
    page = open_study_tab(browser, url)
    before = numbers(page)
    assert before["session"] == 0
    front = page.locator("#study-front .study-front").inner_text().strip()
    assert front and page.locator("#study-back .study-back").count() == 0
    assert (
        page.locator("#study-rate-1").count() == 0 or not page.locator("#study-rate-1").is_visible()
    )

    reveal(page)
    passage = page.locator("#study-back .source-card")
    assert re.match(r".+\.md — .+", passage.locator(".source-title").inner_text())
    assert passage.locator(".passage").inner_text().strip()
    assert page.locator("#study-back .study-back").inner_text().strip()
    plot = page.locator("#study-plot img")
    plot.wait_for(timeout=wait_ms(WAIT_MS))
    plot_before = plot.get_attribute("src")

    # Bien: a new card learns for 10 minutes more, so it stays due today, unless those ten
    # minutes cross midnight (then it leaves today's count too).
    good_at = datetime.now().astimezone()
    page.locator("#study-rate-3").click()
    second = wait_for_next_card(page, front)
    wait_for_text(page, "#study-progress", "1 repasada en esta sesión")
    wait_for_text(page, "#study-stats", f"{before['reviews'] + 1} repaso")
    page.wait_for_function(
        "(src) => { const img = document.querySelector('#study-plot img');"
        " return img && img.getAttribute('src') !== src; }",
        arg=plot_before,
        timeout=wait_ms(WAIT_MS),
    )
    assert page.locator("#study-retention").get_by_text("100%").count() >= 1

    reveal(page)
    page.keyboard.press("4")  # Fácil: due in days, so no longer pending today
    wait_for_next_card(page, second)
    wait_for_text(page, "#study-progress", "2 repasadas en esta sesión")
    after = numbers(page)
    crossed = (good_at + timedelta(minutes=10)).date() != good_at.date()
    assert after == {
        "due_today": before["due_today"] - 1 - crossed,
        "session": 2,
        "reviews": before["reviews"] + 2,
    }

    reveal(page)  # the state the screenshot shows: a card's back, its passage, statistics
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    if target := os.environ.get("STUDY_ASSISTANT_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOT, target)
    page.close()


def test_a_written_answer_gets_a_proposal_and_digits_typed_stay_in_the_box(browser, served):
    url, deck_path = served
    page = open_study_tab(browser, url)
    page.get_by_text("Respuesta escrita", exact=True).click()
    box = page.locator("#study-answer textarea")
    box.wait_for(state="visible", timeout=wait_ms(WAIT_MS))
    front = page.locator("#study-front .study-front").inner_text().strip()
    with Deck.open(deck_path) as deck:
        reviews = len(deck.reviews())

    box.fill("Es una receta de cocina")
    page.locator("#study-check").click()
    wait_for_text(page, "#study-back .study-proposal", "Otra vez")
    page.locator("#study-back .source-card").wait_for(state="visible", timeout=wait_ms(WAIT_MS))
    assert "la veo correcta en un" in page.locator("#study-back .study-proposal").inner_text()
    page.screenshot(path="/tmp/study_written.png", full_page=True)
    assert "primary" in page.locator("#study-rate-1").get_attribute("class").split()
    assert "primary" not in page.locator("#study-rate-3").get_attribute("class").split()

    box.click()
    box.press("End")
    page.keyboard.press("2")  # typing: must not rate "Difícil"
    assert box.input_value() == "Es una receta de cocina2"
    page.wait_for_timeout(1_000)  # a rating, had one fired, would have swapped the card by now
    assert page.locator("#study-front .study-front").inner_text().strip() == front

    page.locator("#study-rate-1").click()  # accept the proposal
    wait_for_next_card(page, front)
    wait_for_text(page, "#study-progress", "1 repasada en esta sesión")
    with Deck.open(deck_path) as deck:
        ratings = [review.rating for review in deck.reviews()]
    assert len(ratings) == reviews + 1 and ratings[-1] == "again"
    assert box.input_value() == ""  # a fresh box for the next card
    page.close()


def squash(text: str) -> str:
    """Whitespace as a label shows it: runs (newlines too) collapsed to one space."""
    return " ".join(text.split())


def shown_as_markdown(back: str) -> str:
    """How a back's rendered option starts: list markers drawn, not written; cut before
    its first formula (KaTeX draws it)."""
    return squash(re.sub(r"(?m)^\s*(?:[-*+]|\d+\.)\s+", "", back).split("$")[0])[:60]


def test_choice_mode_checks_the_option_picked_and_proposes_good(browser, served):
    url, deck_path = served
    page = open_study_tab(browser, url)
    page.get_by_text("Opciones", exact=True).click()
    labels = page.locator("#study-options label")
    labels.first.wait_for(state="visible", timeout=wait_ms(WAIT_MS))
    front = page.locator("#study-front .study-front").inner_text().strip()
    with Deck.open(deck_path) as deck:
        backs = {shown_as_markdown(r.card.back) for r in deck.due() if r.card.front == front}
        reviews = len(deck.reviews())
    # The options are drawn as Markdown under the front; the radio names them A-D.
    assert [squash(label.inner_text()) for label in labels.all()] == ["A", "B", "C", "D"]
    drawn = page.locator("#study-front .study-option .passage")
    options = [squash(option.inner_text()) for option in drawn.all()]
    right = [i for i, text in enumerate(options) if any(text.startswith(b) for b in backs)]
    assert len(options) == 4 and len(right) == 1, (options, backs)
    labels.nth(right[0]).click()
    page.locator("#study-check").click()
    wait_for_text(page, "#study-back .study-grade", "Correcto")
    wait_for_text(page, "#study-back .study-proposal", "Bien")
    assert "primary" in page.locator("#study-rate-3").get_attribute("class").split()
    assert page.locator("#study-options input[type=radio]:checked").count() == 1
    page.screenshot(path="/tmp/study_choice.png", full_page=True)

    page.locator("#study-rate-3").click()
    wait_for_next_card(page, front)
    with Deck.open(deck_path) as deck:
        ratings = [review.rating for review in deck.reviews()]
    assert len(ratings) == reviews + 1 and ratings[-1] == "good"
    page.close()


@pytest.mark.parametrize(
    "button, suffix", [("Exportar a Anki (.apkg)", ".apkg"), ("Exportar a CSV", ".csv")]
)
def test_an_export_is_offered_as_a_download(browser, served, tmp_path, button, suffix):
    url, deck_path = served
    page = open_study_tab(browser, url)
    page.get_by_role("button", name=button).click()
    link = page.locator(f'#study-export a[download="asistente-de-estudio{suffix}"]')
    link.wait_for(timeout=wait_ms(WAIT_MS))
    with page.expect_download(timeout=wait_ms(WAIT_MS)) as download:
        link.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == suffix
    with Deck.open(deck_path) as deck:
        cards = len(deck.cards())
    if suffix == ".apkg":
        assert "collection.anki2" in zipfile.ZipFile(saved).namelist()
    else:
        rows = [line for line in saved.read_text().splitlines() if not line.startswith("#")]
        assert len(rows) >= cards  # a back may span lines inside its quotes
    page.close()
