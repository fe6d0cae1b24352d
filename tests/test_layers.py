"""The stages and rooms import only downward:

    corpus <- index <- assistant (the answering core) <- assistant.study, assistant.training
    <- eval <- assistant.web, assistant.cli, app.py

Every import in every module (function-level ones included, read with ast) must name a
layer at or below the module's own; study and training are one layer but neither imports
the other. The core never imports study, training, web or the CLI; the edge (the web room,
the CLI, app.py) sits on top and may import every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("corpus", "index", "assistant", "eval")
# The longest prefix names the room: assistant.study sits above the core `assistant` names.
ROOMS = {
    "corpus": 0,
    "index": 1,
    "assistant": 2,
    "assistant.study": 3,
    "assistant.training": 3,
    "eval": 4,
    "assistant.web": 5,
    "assistant.cli": 5,
    "assistant.__main__": 5,
    "app": 5,
}
SIDE_BY_SIDE = {
    ("assistant.study", "assistant.training"),
    ("assistant.training", "assistant.study"),
}


def room(module: str) -> str | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in ROOMS:
            return ".".join(parts[:end])
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int | None:
    found = room(module)
    return None if found is None else ROOMS[found]


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


SOURCES = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_no_layer_above_its_own(path):
    own = module_name(path)
    upward = [
        f"line {line}: {name}"
        for line, name in imported(ast.parse(path.read_text()))
        if (target := layer(name)) is not None
        and (target > layer(own) or (room(own), room(name)) in SIDE_BY_SIDE)
    ]
    assert not upward, f"{own} imports upward: {upward}"


def test_the_walker_sees_function_level_imports():
    tree = ast.parse("def f():\n    from eval.answers import x\n")
    assert imported(tree) == [(2, "eval.answers")]
    assert layer("assistant.cli.main") == 5 and layer("eval.answers") == 4 and layer("os") is None
    assert layer("assistant.answer") == 2 and layer("assistant.study.deck") == 3
    assert layer("assistant.web.evidence") == 5 and layer("app") == 5


def test_the_core_importing_study_or_the_web_is_upward():
    assert layer("assistant.study.quiz") > layer("assistant.support.scorer")
    assert (
        layer("assistant.web.chat_state") > layer("eval.answers") > layer("assistant.training.lora")
    )
