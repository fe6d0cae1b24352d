"""Issue 14's fixes in a real browser: the chat's label never covers a message as it
scrolls, a reload keeps the conversation (this browser's, not another's) and it exports
as Markdown, and a delete asks first and is undone from the trash. Debian's chromium
driven headless by playwright (the `browser` fixture, tests/browser.py: never `playwright
install`; without chromium the tests fail), as in test_app_browser.py.

The app runs in this process (app.launch, as main() serves it) over a copy of the default
notes with the fake embedder, a scripted generator and the word-overlap checker: what is
under test is the page, not the models. The chat's screenshot, with a rendered passage in
the sources panel, is written to /tmp/chat_fixed.png."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import app as study_app
from tests.browser import wait_ms
from tests.served import served_app
from tests.test_app import QUESTION, fake_factory

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/chat_fixed.png")
WAIT_MS = 60_000  # both cores may be busy: the fake answers still take a moment
QUESTIONS = (QUESTION, "¿Qué es LoRA?", "¿Qué son los adapters?")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, notes folder): the app on a free port over a copy of the default notes."""
    with served_app(tmp_path_factory.mktemp("fixes-app"), fake_factory()) as (url, app):
        yield url, app.notes_dir


@pytest.fixture
def page(browser, served):
    """A page in a fresh browser context: its own localStorage, as another browser."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def open_chat(page, url: str):
    # Gradio keeps a connection open, so "networkidle" never comes: wait for elements.
    page.goto(url, wait_until="domcontentloaded")
    box = page.locator("#question textarea")
    try:
        box.wait_for(timeout=wait_ms(WAIT_MS // 2))
    except PlaywrightTimeout:
        # Under a full CI load the first page of a fresh app once never rendered (its
        # scripts came too late): load it once more, as a student would.
        page.reload(wait_until="domcontentloaded")
        box.wait_for(timeout=wait_ms(WAIT_MS))
    return box


def stored_chat(page) -> str | None:
    """The browser's (encrypted) copy of the conversation."""
    return page.evaluate("(key) => localStorage.getItem(key)", study_app.CHAT_STORAGE_KEY)


def ask_all(page, box, questions) -> None:
    """Ask each question and wait for its checked answer and for the browser's copy that
    holds it: the copy is written by the event chained after the answer, a moment later."""
    replies = page.locator('#chat [data-testid="bot"]')
    for question in questions:
        turn, stored = replies.count(), stored_chat(page)
        box.fill(question)
        box.press("Enter")
        replies.nth(turn).locator(".timings").wait_for(timeout=wait_ms(WAIT_MS))
        page.wait_for_function(
            "([key, before]) => localStorage.getItem(key) !== before",
            arg=[study_app.CHAT_STORAGE_KEY, stored],
            timeout=wait_ms(WAIT_MS),
        )


def label_and_scroller(page) -> dict:
    """The chat label's box and that of the element that scrolls the messages."""
    return page.evaluate(
        """() => {
            const label = document.querySelector('#chat label[data-testid="block-label"]');
            const scroller = [...document.querySelectorAll('#chat *')].find(
                (e) => e.scrollHeight > e.clientHeight + 20
                    && ['auto', 'scroll'].includes(getComputedStyle(e).overflowY));
            const l = label.getBoundingClientRect();
            const s = scroller.getBoundingClientRect();
            return {label_bottom: l.bottom, label_top: l.top, scroller_top: s.top,
                    scroll: scroller.scrollTop, max: scroller.scrollHeight - scroller.clientHeight};
        }"""
    )


def test_the_chat_label_never_covers_a_message_and_passages_render(browser, served, page):
    url, _ = served
    box = open_chat(page, url)
    ask_all(page, box, QUESTIONS)
    page.locator("#chat .cite:not(.invalid)").first.click()
    card = page.locator("#sources .source-card:not([hidden])")
    card.wait_for(timeout=wait_ms(WAIT_MS))
    # The passage is rendered Markdown: a heading element, no "#" or "**" left.
    assert card.locator(".passage.md h1, .passage.md h2").count() >= 1
    passage = card.locator(".passage").inner_text()
    assert "# " not in passage and "**" not in passage
    assert card.locator(".passage mark").count() >= 1  # the supporting sentence

    for fraction in (0.0, 0.3, 0.6, 1.0):
        page.evaluate(
            """(fraction) => {
                const scroller = document.querySelector('#chat .bubble-wrap');
                scroller.scrollTop = fraction * (scroller.scrollHeight - scroller.clientHeight);
            }""",
            fraction,
        )
        page.wait_for_timeout(200)
        boxes = label_and_scroller(page)
        assert boxes["max"] > 0, "the chat must be long enough to scroll"
        assert boxes["label_bottom"] <= boxes["scroller_top"] + 1, boxes  # nothing beneath
    # The screenshot: the chat scrolled mid-way, a passage of the Q&A note (numbered
    # headings, bold terms, lists) open in the sources panel.
    page.locator("#chat .cite-source").last.click()  # a reply's "Fuentes" link
    page.locator("#sources .source-card:not([hidden]) .passage.md").wait_for(
        timeout=wait_ms(WAIT_MS)
    )
    page.evaluate(
        "() => { const s = document.querySelector('#chat .bubble-wrap'); s.scrollTop = 140; }"
    )
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOT))


def test_a_reload_keeps_the_conversation_of_this_browser_only(browser, served, page):
    url, _ = served
    box = open_chat(page, url)
    ask_all(page, box, QUESTIONS[:2])
    replies = page.locator('#chat [data-testid="bot"]')
    before = [replies.nth(i).inner_text() for i in range(2)]

    page.reload(wait_until="domcontentloaded")
    replies.nth(1).locator(".timings").wait_for(timeout=wait_ms(WAIT_MS))
    assert replies.count() == 2
    assert [replies.nth(i).inner_text() for i in range(2)] == before
    users = page.locator('#chat [data-testid="user"]')
    assert [users.nth(i).inner_text().strip() for i in range(2)] == list(QUESTIONS[:2])
    # The restored citations still open their passages.
    page.evaluate(
        "document.querySelectorAll('#sources .source-card').forEach(c => c.hidden = true)"
    )
    replies.nth(1).locator(".cite:not(.invalid)").first.click()
    page.locator("#sources .source-card:not([hidden]) .passage").wait_for(timeout=wait_ms(WAIT_MS))
    # A follow-up reads the restored history: its search carries the previous question.
    ask_all(page, page.locator("#question textarea"), ["¿Y cuáles son sus ventajas?"])
    assert "Búsqueda: «¿Qué es LoRA?" in replies.nth(2).inner_text()

    # The export: each question, answer and cited passage, as a Markdown file.
    page.locator("#export-chat").click()
    link = page.locator("#chat-export a").first
    link.wait_for(timeout=wait_ms(WAIT_MS))
    with page.expect_download(timeout=wait_ms(WAIT_MS)) as download:
        link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Conversación con tus notas")
    assert f"## 1. {QUESTIONS[0]}" in text and "## 3. ¿Y cuáles son sus ventajas?" in text
    assert "### Pasajes citados" in text and "\n> " in text

    # Another browser (its own localStorage) starts with an empty chat.
    other = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    try:
        open_chat(other, url)
        other.locator("#sources").get_by_text("Aquí aparecerán").wait_for(timeout=wait_ms(WAIT_MS))
        other.wait_for_timeout(1000)  # the restore runs on load; give it its moment
        assert other.locator('#chat [data-testid="bot"]').count() == 0
    finally:
        other.context.close()

    # "Nueva conversación" forgets it in this browser too.
    stored = stored_chat(page)
    page.get_by_role("button", name="Nueva conversación").click()
    page.locator("#sources").get_by_text("Aquí aparecerán").wait_for(timeout=wait_ms(WAIT_MS))
    page.wait_for_function(
        "([key, before]) => localStorage.getItem(key) !== before",
        arg=[study_app.CHAT_STORAGE_KEY, stored],
        timeout=wait_ms(WAIT_MS),
    )
    page.reload(wait_until="domcontentloaded")
    page.locator("#question textarea").wait_for(timeout=wait_ms(WAIT_MS))
    page.locator("#sources").get_by_text("Aquí aparecerán").wait_for(timeout=wait_ms(WAIT_MS))
    page.wait_for_timeout(1000)
    assert replies.count() == 0


def notes_status(page) -> str:
    return page.locator("#notes-status textarea").input_value()


def wait_for_status(page, text: str) -> None:
    page.wait_for_function(
        "(text) => (document.querySelector('#notes-status textarea') || {}).value?.includes(text)",
        arg=text,
        timeout=wait_ms(WAIT_MS),
    )


def wait_for_listed(page, note: str, listed: bool) -> None:
    """Until the notes table lists ``note`` (or no longer does)."""
    page.wait_for_function(
        r"""([note, listed]) => {
            const table = document.querySelector('#notes-table');
            const cells = table ? table.innerText.split(/[\t\n]/).map((c) => c.trim()) : [];
            return table !== null && cells.includes(note) === listed;
        }""",
        arg=[note, listed],
        timeout=wait_ms(WAIT_MS),
    )


def choose(page, dropdown_id: str, option: str) -> None:
    page.locator(f"#{dropdown_id} input").click()
    page.get_by_role("option", name=option).click()


def test_a_delete_asks_first_and_the_trash_undoes_it(browser, served, page):
    url, notes = served
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Notas").click()
    page.locator("#to-delete input").wait_for(timeout=wait_ms(WAIT_MS))
    wait_for_listed(page, "teacher_forcing.md", listed=True)
    original = (notes / "teacher_forcing.md").read_bytes()

    choose(page, "to-delete", "teacher_forcing.md")
    page.locator("#delete-note").click()
    confirm = page.locator("#confirm-delete")
    confirm.wait_for(timeout=wait_ms(WAIT_MS))
    assert "teacher_forcing.md" in page.locator("#confirm-delete-text").inner_text()
    page.locator("#cancel-delete").click()
    confirm.wait_for(state="hidden", timeout=wait_ms(WAIT_MS))
    assert (notes / "teacher_forcing.md").exists()  # asking and cancelling deletes nothing

    page.locator("#delete-note").click()
    confirm.wait_for(timeout=wait_ms(WAIT_MS))
    confirm.click()
    wait_for_status(page, "Índice listo")
    assert "movida a la papelera" in notes_status(page)
    assert not (notes / "teacher_forcing.md").exists()
    wait_for_listed(page, "teacher_forcing.md", listed=False)
    assert page.locator("#trash input").input_value().startswith("teacher_forcing.md (borrada")

    page.locator("#restore-note").click()
    wait_for_status(page, "recuperada de la papelera")
    wait_for_status(page, "Índice listo")
    assert "Nuevas: teacher_forcing.md" in notes_status(page)  # re-indexed
    assert (notes / "teacher_forcing.md").read_bytes() == original
    wait_for_listed(page, "teacher_forcing.md", listed=True)
    assert page.locator("#trash input").input_value() == ""


# Gradio's own words in an English browser (playwright's default locale is en-US).
GRADIO_ENGLISH = ("Copy table data", "Fullscreen", "Click to upload", "Download", "Thumbnail")


def test_gradios_own_labels_speak_spanish_in_an_english_browser(browser, served, page):
    url, _ = served
    open_chat(page, url)
    assert page.evaluate("navigator.language") == "en-US"
    for tab in ("Estudiar", "Notas", "Experimentos"):
        page.get_by_role("tab", name=tab).click()
        page.locator('[aria-label="Pantalla completa"]').first.wait_for(
            state="attached", timeout=wait_ms(WAIT_MS)
        )
        said = page.evaluate(
            "() => [...document.querySelectorAll('[aria-label],[title]')]"
            ".flatMap(e => [e.getAttribute('aria-label'), e.getAttribute('title')])"
            ".filter(Boolean)"
        )
        english = [text for text in said if text.startswith(GRADIO_ENGLISH)]
        assert english == [], (tab, english)


def test_an_upload_from_the_page_is_indexed_and_leaves_no_copy(browser, served, page, tmp_path):
    """Last in the file: the note it adds stays in the served notes."""
    url, notes = served
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Notas").click()
    page.locator("#to-delete input").wait_for(timeout=wait_ms(WAIT_MS))
    zone = page.locator('#upload-notes [data-testid="upload-text"]')
    said = zone.evaluate("e => getComputedStyle(e, '::after').content")
    assert "Arrastra aquí tus notas" in said  # in Spanish, whatever the browser's language
    assert zone.evaluate("e => getComputedStyle(e).fontSize") == "0px"  # Gradio's English
    note = tmp_path / "rag.md"
    note.write_text("# RAG\n\nRAG combina la recuperación de pasajes con la generación.\n")
    page.locator("#upload-notes input[type=file]").set_input_files(str(note))
    # One step: picking the file adds it (no button to press after).
    wait_for_status(page, "Índice listo")
    assert notes_status(page).startswith("Añadidas: rag.md.") and "Nuevas: rag.md" in (
        notes_status(page)
    )
    wait_for_listed(page, "rag.md", listed=True)
    assert (notes / "rag.md").read_text(encoding="utf-8") == note.read_text(encoding="utf-8")
    uploads = Path(os.environ["GRADIO_TEMP_DIR"])
    assert uploads.name.startswith("study-assistant-")
    # Gradio's copy is gone (the folder also caches the files the app shows: the plots)
    assert [p for p in uploads.rglob("*") if p.name == "rag.md"] == []
    page.locator("#upload-notes").get_by_text("rag.md").wait_for(
        state="detached", timeout=wait_ms(WAIT_MS)
    )  # the picker no longer offers a file that is gone
