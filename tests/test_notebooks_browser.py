"""Notebooks in a real browser (Debian's chromium, headless, through playwright; never
`playwright install`): a notebook created from a folder in the page becomes what every tab
works on, with a conversation of its own, and the chat's model, loaded once, answers in
both notebooks without loading again. The screenshot is written to /tmp/notebooks.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import generators
from tests.browser import wait_ms
from tests.fakes import ScriptedGenerator
from tests.served import served_app
from tests.test_notebooks import CHEMISTRY, _folder
from tests.test_notebooks_app import ANSWER, _factory

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/notebooks.png")
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, the chemistry folder, the model loads): the app on a copy of the default
    notes, with a data folder of its own and a scripted model that counts its loads."""
    work = tmp_path_factory.mktemp("notebooks-app")
    chemistry = _folder(work, "quimica", CHEMISTRY)
    loads: list[str] = []

    def load(adapter, precision):
        loads.append("gemma-270m")
        return ScriptedGenerator(ANSWER)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDY_ASSISTANT_CACHE", str(work / "data"))
        patch.setattr(generators, "_loaded", {})
        patch.setitem(generators.GENERATORS, "gemma-270m", load)
        with served_app(work, _factory) as (url, _):
            yield url, chemistry, loads


def _ask(page, question: str, turn: int):
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    answer = page.locator('#chat [data-testid="bot"]').nth(turn)
    answer.locator(".timings").wait_for(timeout=wait_ms(WAIT_MS))
    return answer


def test_a_new_notebook_is_what_every_tab_works_on_and_the_model_stays(browser, served):
    url, chemistry, loads = served
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    try:
        page.goto(url, wait_until="domcontentloaded")
        selector = page.locator("#notebook input")
        page.wait_for_function(
            "() => document.querySelector('#notebook input')?.value === 'notes'",
            timeout=wait_ms(WAIT_MS),
        )
        first = _ask(page, "¿Qué es Teacher Forcing?", 0)
        assert "teacher_forcing.md" in page.locator("#sources").inner_text()
        assert loads == ["gemma-270m"]

        page.get_by_text("Cuadernos: crear, renombrar, quitar").click()
        page.locator("#notebook-folder textarea, #notebook-folder input").fill(str(chemistry))
        page.locator("#notebook-name textarea, #notebook-name input").fill("química")
        page.locator("#notebook-create").click()
        page.locator("#notebook-status").get_by_text("Cuaderno «química»").wait_for(
            timeout=wait_ms(WAIT_MS)
        )
        page.wait_for_function(
            "() => document.querySelector('#notebook input')?.value === 'química'",
            timeout=wait_ms(WAIT_MS),
        )
        # Its own conversation: the chat is empty until asked.
        page.wait_for_function(
            "() => document.querySelectorAll('#chat [data-testid=\"bot\"]').length === 0",
            timeout=wait_ms(WAIT_MS),
        )
        answer = _ask(page, "¿Qué es el enlace covalente?", 0)
        assert "Cargando el modelo" not in answer.inner_text()
        assert "quimica.md" in page.locator("#sources").inner_text()
        assert "teacher_forcing.md" not in page.locator("#sources").inner_text()
        assert loads == ["gemma-270m"]  # the model was not loaded again
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        page.get_by_role("tab", name="Notas").click()
        table = page.locator("#notes-table")
        page.wait_for_function(
            "() => document.querySelector('#notes-table')?.innerText.includes('quimica.md')",
            timeout=wait_ms(WAIT_MS),
        )
        assert "teacher_forcing.md" not in table.inner_text()
        page.get_by_role("tab", name="Estudiar").click()
        page.locator("#study-front").get_by_text("enlace covalente").wait_for(
            timeout=wait_ms(WAIT_MS)
        )

        # Back to the first notebook: its conversation comes back as it was.
        page.get_by_role("tab", name="Chat").click()
        selector.click()
        page.get_by_role("option", name="notes").click()
        page.locator("#notebook-status").get_by_text("Cuaderno «notes»").wait_for(
            timeout=wait_ms(WAIT_MS)
        )
        bots = page.locator('#chat [data-testid="bot"]')
        bots.first.wait_for(timeout=wait_ms(WAIT_MS))
        assert bots.count() == 1 and bots.first.inner_text() == first.inner_text()
        assert loads == ["gemma-270m"]
    finally:
        page.close()
