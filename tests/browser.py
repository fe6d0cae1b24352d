"""Debian's chromium for the browser tests, driven headless by playwright, whose own browser
download (`playwright install`) is never used. scripts/setup.sh (make setup) installs the
package when run as root and names the command otherwise; without it a browser test
fails, it never skips: a suite that passes must have driven the browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def wait_ms(base_ms: int) -> int:
    """A deadline for one wait on the page, scaled by how busy the machine is now: ``base_ms``
    on an idle machine, up to 5x when every core is taken (a CI runner, a training run
    beside the tests). The waits themselves are on events (an element, a text), so the
    deadline only bounds a real hang."""
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        load = 1.0
    return int(base_ms * min(5.0, max(1.0, load)))


def check_chromium(path: Path | None = None) -> None:
    """Fail the calling test, saying how to install it, unless ``path`` (CHROMIUM) is a
    program."""
    path = path or CHROMIUM
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} is missing: the browser tests need Debian's package chromium; install it"
            " with `sudo apt-get install -y chromium` (make setup does it when run as root)",
            pytrace=False,
        )


@contextmanager
def headless_chromium(path: Path | None = None) -> Iterator:
    """A playwright Browser on ``path`` (CHROMIUM), closed on exit."""
    path = path or CHROMIUM
    check_chromium(path)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.fail(f"playwright is missing ({err}): make setup installs it", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
