"""The browser tests' guard (tests/browser.py): without Debian's chromium a browser test
fails with the command that installs it, never skips."""

from __future__ import annotations

import pytest

from tests import browser as browser_setup


@pytest.mark.parametrize("kind", ["missing", "not executable", "a folder"])
def test_no_chromium_fails_naming_the_package_and_the_command(tmp_path, kind):
    path = tmp_path / "chromium"
    if kind == "not executable":
        path.write_text("#!/bin/sh\n")
        path.chmod(0o644)
    elif kind == "a folder":
        path.mkdir()
    with pytest.raises(pytest.fail.Exception) as failure:
        browser_setup.check_chromium(path)
    message = str(failure.value)
    assert f"{path} is missing" in message
    assert "package chromium" in message and "sudo apt-get install -y chromium" in message


def test_an_executable_chromium_passes(tmp_path):
    path = tmp_path / "chromium"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    assert browser_setup.check_chromium(path) is None


def test_the_fixture_fails_rather_than_skips_without_chromium(tmp_path, monkeypatch):
    monkeypatch.setattr(browser_setup, "CHROMIUM", tmp_path / "chromium")
    with pytest.raises(pytest.fail.Exception), browser_setup.headless_chromium():
        raise AssertionError("a browser was launched without chromium")
