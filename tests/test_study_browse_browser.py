"""The card browser in a real browser (issue 28): in the Estudiar tab's "Tarjetas", find a
card by tag and by text, click its row, edit its back, suspend and resume it, delete it
after the question, bring a deleted card back with "Recuperar"; add a card by hand to a
section of a tagged note; and import an Anki package with the upload box, whose one line
says what it merged. The deck is read back after each step. Debian's chromium driven
headless by playwright (tests/browser.py), the app served in this process over the
default notes plus a tagged note, with the fake embedder and the word-overlap checker
(tests/served.py). The screenshot of the browser with the added card in its editor is
written to /tmp/card_browser.png (and to STUDY_ASSISTANT_SCREENSHOT when set); those of
Recuperar to /tmp/card_undelete_list.png and /tmp/card_undelete.png."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from assistant.study.browse import deleted_choices
from assistant.study.deck import Deck
from tests.browser import wait_ms
from tests.conftest import NOTES
from tests.served import served_app
from tests.test_study_browse import SECTION, TAGGED, TAGGED_NOTE, TRANSFER

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/card_browser.png")
UNDELETE_LIST, UNDELETE = Path("/tmp/card_undelete_list.png"), Path("/tmp/card_undelete.png")
WAIT_MS = 30_000


def no_chat(index, settings):
    raise AssertionError("the study tab must not build the chat's assistant")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, the app): the default notes and a tagged one, the deck in a temp folder."""
    notes = tmp_path_factory.mktemp("notes-source") / "notes"
    shutil.copytree(NOTES, notes)
    (notes / TAGGED).write_text(TAGGED_NOTE, encoding="utf-8")
    with served_app(tmp_path_factory.mktemp("browse-app"), no_chat, notes=notes) as served:
        yield served


def wait(locator, state: str = "visible") -> None:
    locator.wait_for(state=state, timeout=wait_ms(WAIT_MS))


def open_browser(browser, url: str):
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    # Gradio keeps a connection open, so "networkidle" never comes: wait for elements.
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Estudiar").click()
    wait(page.locator("#study-front .study-front"))
    page.get_by_text("Tarjetas: buscar, editar, añadir").click()
    wait(rows(page).first)
    return page


def search(page, query: str, expected_rows: int | None = None) -> None:
    box = page.locator("#cards-query textarea, #cards-query input").first
    box.fill(query)
    box.press("Enter")
    label = "tarjeta" if expected_rows == 1 else "tarjetas"
    if expected_rows is not None:
        wait(page.locator("#cards-table").get_by_text(f"{expected_rows} {label}", exact=True))


def rows(page):
    """The table's rows on screen (Gradio draws them as a virtual list of div rows, beside
    a hidden table that only sizes the columns)."""
    return page.locator("#cards-table .virtual-row")


def row_cells(page) -> list[list[str]]:
    shown = rows(page)
    return [
        [cell.strip() for cell in shown.nth(i).locator('[role="gridcell"]').all_inner_texts()]
        for i in range(shown.count())
    ]


def in_table(page, text: str):
    return rows(page).get_by_text(text, exact=True)


def wait_line(page, text: str) -> None:
    wait(page.locator("#cards-line").get_by_text(text))


def choose(page, dropdown_id: str, option: str) -> None:
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_find_edit_suspend_delete_and_add_cards(browser, served):
    url, app = served
    deck_path = app.study.deck_path
    page = open_browser(browser, url)

    search(page, "#rnn", expected_rows=1)
    assert [row[2] for row in row_cells(page)] == [TAGGED]

    search(page, f'"{TRANSFER}" nota:preguntas', expected_rows=2)
    in_table(page, TRANSFER).click()
    front = page.locator("#cards-front textarea")
    wait(front)
    assert front.input_value() == TRANSFER
    assert "preguntas_nlp_llm.md" in page.locator("#cards-about").inner_text()
    with Deck.open(deck_path) as deck:
        (card,) = [r for r in deck.cards() if r.card.front == TRANSFER]

    back = page.locator("#cards-back textarea")
    back.fill("Reusar un modelo preentrenado en otra tarea.")
    page.locator("#cards-save").click()
    wait_line(page, "Guardada")
    wait(in_table(page, "Reusar un modelo preentrenado en otra tarea."))
    with Deck.open(deck_path) as deck:
        edited = deck.get(card.card.id)
    assert edited.edited and edited.card.back == "Reusar un modelo preentrenado en otra tarea."

    page.locator("#cards-suspend").click()
    wait_line(page, "Suspendida")
    wait(in_table(page, "suspendida · editada"))
    wait(page.locator("#cards-resume"))
    assert not page.locator("#cards-suspend").is_visible()
    with Deck.open(deck_path) as deck:
        assert deck.get(card.card.id).status == "suspended"
    page.locator("#cards-resume").click()
    wait_line(page, "Reanudada")
    wait(in_table(page, "nueva · editada"))

    page.locator("#cards-delete").click()
    wait(page.locator("#cards-confirm-text").get_by_text(TRANSFER))
    page.locator("#cards-confirm-delete").click()
    wait_line(page, "Borrada")
    wait(page.locator("#cards-table").get_by_text("1 tarjeta", exact=True))
    wait(page.locator("#cards-editor"), "hidden")
    with Deck.open(deck_path) as deck:
        assert deck.get(card.card.id).status == "deleted"
        assert card.card.id not in {r.card.id for r in deck.due()}

    choose(page, "cards-new-note", TAGGED)
    wait(page.locator("#cards-new-section input"))
    page.wait_for_function(
        "() => document.querySelector('#cards-new-section input').value !== ''",
        timeout=wait_ms(WAIT_MS),
    )
    choose(page, "cards-new-section", SECTION)
    page.locator("#cards-new-front textarea").fill("¿Qué resume el estado oculto de una RNN?")
    page.locator("#cards-new-back textarea").fill("Lo que la red ha visto hasta ese paso.")
    page.locator("#cards-add").click()
    wait_line(page, f"Añadida a {TAGGED}")
    wait(page.locator("#cards-about").get_by_text("a mano"))
    assert front.input_value() == "¿Qué resume el estado oculto de una RNN?"
    assert page.locator("#cards-new-front textarea").input_value() == ""
    with Deck.open(deck_path) as deck:
        (added,) = [r for r in deck.cards() if r.manual]
    assert (added.card.source, added.card.heading) == (TAGGED, SECTION)
    assert added.card.back == "Lo que la red ha visto hasta ese paso."

    search(page, "#rnn", expected_rows=2)
    page.locator("#cards-query").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    if target := os.environ.get("STUDY_ASSISTANT_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOT, target)
    page.close()


def test_a_deleted_card_comes_back_with_recuperar(browser, served):
    """Recuperar lists the deleted cards, the last deleted first, and brings the chosen
    one back: same id, same reviews, in study, opened in the editor. Screenshots: the list
    open (/tmp/card_undelete_list.png) and the card back (/tmp/card_undelete.png)."""
    url, app = served
    with Deck.open(app.study.deck_path) as deck:
        row = next(r for r in deck.cards() if r.card.source == "teacher_forcing.md")
        deck.review(row.card.id, "good")
    app.study.delete_card(row.card.id)
    ((label, _),) = deleted_choices([app.study.card(row.card.id)])
    page = open_browser(browser, url)

    picker = page.locator("#cards-deleted")
    wait(picker.get_by_text("Tarjetas borradas:"))
    picker.locator("input").click()
    options = page.get_by_role("option")
    wait(options.first)
    assert options.first.inner_text().strip() == label  # the last deleted first
    picker.scroll_into_view_if_needed()
    page.screenshot(path=str(UNDELETE_LIST))
    page.get_by_role("option", name=label, exact=True).click()
    page.locator("#cards-undelete").click()
    wait_line(page, "Recuperada: el mismo id y sus repasos")
    wait(page.locator("#cards-editor"))
    assert page.locator("#cards-front textarea").input_value() == row.card.front
    assert label not in page.locator("#cards-deleted").inner_text()
    with Deck.open(app.study.deck_path) as deck:
        back = deck.get(row.card.id)
        assert back.status == "learning" and back.deleted is None
        assert len(deck.reviews(row.card.id)) == 1
        assert row.card.id in {r.card.id for r in deck.cards()}
    page.locator("#cards-deleted").scroll_into_view_if_needed()
    page.screenshot(path=str(UNDELETE))
    page.close()


def test_an_anki_package_uploaded_in_the_tab_merges_its_reviews(browser, served, tmp_path):
    url, app = served
    with Deck.open(app.study.deck_path) as deck:
        first = deck.cards()[0]
        deck.review(first.card.id, "good")
        reviews = len(deck.reviews())
    package, _ = app.study.export("apkg")
    upload = tmp_path / "desde-anki.apkg"
    shutil.copyfile(package, upload)
    page = open_browser(browser, url)
    page.locator("#study-import input[type=file]").set_input_files(str(upload))
    line = page.locator("#study-imported")
    wait(line.get_by_text("Importados 0 repasos nuevos de desde-anki.apkg"))
    assert f"{reviews} ya estaban en el mazo" in line.inner_text()
    with Deck.open(app.study.deck_path) as deck:
        assert len(deck.reviews()) == reviews
    page.close()
