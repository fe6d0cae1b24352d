"""The stages import only downward: corpus <- index <- assistant <- eval <- the CLI and app.

Every import in every module (function-level ones included, read with ast) must name a
layer at or below the module's own. The CLI (assistant/cli.py, assistant/__main__.py) and
app.py sit on top and may import every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"corpus": 0, "index": 1, "assistant": 2, "eval": 3}
TOP = {"assistant.cli", "assistant.__main__", "app"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int | None:
    if module in TOP or any(module.startswith(top + ".") for top in TOP):
        return 4
    return LAYERS.get(module.split(".")[0])


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


SOURCES = sorted(p for package in LAYERS for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_no_layer_above_its_own(path):
    own = module_name(path)
    upward = [
        f"line {line}: {name}"
        for line, name in imported(ast.parse(path.read_text()))
        if (target := layer(name)) is not None and target > layer(own)
    ]
    assert not upward, f"{own} imports upward: {upward}"


def test_the_walker_sees_function_level_imports():
    tree = ast.parse("def f():\n    from eval.answers import x\n")
    assert imported(tree) == [(2, "eval.answers")]
    assert layer("assistant.cli") == 4 and layer("eval.answers") == 3 and layer("os") is None
