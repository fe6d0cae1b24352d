"""The app in a real browser with the real models: ask, watch the answer stream in, click a
citation, see its passage. Debian's chromium driven headless by playwright (the `browser`
fixture, tests/browser.py: never `playwright install`; without chromium the tests fail).
Set STUDY_ASSISTANT_SCREENSHOT=PATH to keep the screenshot (the README's
docs/img/chat.png is made that way)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from eval.harness import start_app
from tests.served import free_port, stop

pytestmark = pytest.mark.slow

# Questions from the notes, asked in turn until an answer cites a passage: whether a 270M
# model writes [n] depends on its weights (the adapter is retrained now and then), and the
# app, not the model, is under test here.
QUESTIONS = ("¿Qué es LoRA?", "¿Qué es Teacher Forcing?", "¿Qué son los adapters?")
STARTUP_S = 900  # a fresh cache embeds the notes with e5 before the app listens
ANSWER_S = 600  # the first question also loads the models


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"the app did not answer on {url} within {STARTUP_S} s")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """app.py in a subprocess on a free port, over a copy of the default notes."""
    work = tmp_path_factory.mktemp("app")
    port, log = free_port(), work / "app.log"
    process = start_app(work, port)  # copies the notes in; the app writes to app.log
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log)
        yield url
    finally:
        stop(process)


def test_a_streamed_answer_cites_a_passage_that_a_click_reveals(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    # Gradio keeps a connection open, so "networkidle" never comes: wait for elements.
    page.goto(app_url, wait_until="domcontentloaded")
    box = page.locator("#question textarea")
    box.wait_for(timeout=60_000)
    replies = page.locator('#chat [data-testid="bot"]')
    for turn, question in enumerate(QUESTIONS):
        box.fill(question)
        box.press("Enter")
        answer = replies.nth(turn)
        if turn == 0:  # pieces arrive with a cursor, unless the whole answer came first
            answer.get_by_text("▌").or_(answer.locator(".timings")).first.wait_for(
                timeout=ANSWER_S * 1000
            )
        answer.locator(".timings").wait_for(timeout=ANSWER_S * 1000)  # the checked answer
        citations = answer.locator(".cite:not(.invalid)")
        if citations.count():
            break
    assert citations.count() >= 1, f"no answer cited a passage; the last: {answer.inner_text()}"

    # Hide every card so that only the click can reveal one.
    page.evaluate("document.querySelectorAll('.source-card').forEach(c => c.hidden = true)")
    citation = citations.last
    key = next(
        name.removeprefix("src-")
        for name in citation.get_attribute("class").split()
        if name.startswith("src-")
    )
    citation.click()
    card = page.locator(f'#sources .source-card[data-key="{key}"]')
    card.wait_for(state="visible", timeout=10_000)
    assert page.locator("#sources .source-card:not([hidden])").count() == 1
    assert card.locator(".passage").inner_text().strip()
    assert card.locator(".source-title").inner_text().startswith("[")

    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot))
    if target := os.environ.get("STUDY_ASSISTANT_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    page.close()


def test_the_experiments_tab_shows_the_published_grid(browser, app_url):
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    page.goto(app_url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Experimentos").click()
    page.get_by_text("Experimento completo publicado").wait_for(timeout=60_000)
    page.get_by_text("Comparaciones emparejadas").wait_for(timeout=10_000)
    plots = page.locator("#exp-plots img")
    plots.first.wait_for(timeout=10_000)
    sources = [plots.nth(i).get_attribute("src") for i in range(plots.count())]
    assert sorted(src.rsplit("/", 1)[1] for src in sources) == ["latency_f1.png", "metrics.png"]
    page.close()
