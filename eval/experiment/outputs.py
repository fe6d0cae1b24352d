"""What the models wrote in an experiment, read from its per-cell logs: the shapes of the
raw drafts that explain the scores (a chain of thought that never reaches its answer, an
output cut by the token limit, a draft that is only a citation).

    python -m eval.experiment.outputs docs/experiments/dev

Prints a Markdown table per (strategy, model), pooled over seeds, and writes the same
numbers to ``DIR/outputs_summary.json``. Only drafts the model generated count: questions
that retrieval answered with an abstention before any generation are left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from assistant.citations import cited_numbers, strip_citations
from assistant.prompts import ABSTAIN, answer_marker
from corpus.errors import AssistantError
from corpus.files import atomic_write_bytes

# The line after which a chain of thought gives its answer (assistant/prompts.yaml, cot).
ANSWER_LINE = answer_marker()
SHAPES = ("at_token_limit", "answer_line", "cites", "citation_only", "abstention_sentence")
DESCRIPTIONS = {
    "at_token_limit": "cortadas por el límite de tokens nuevos",
    "answer_line": f"contienen «{ANSWER_LINE}» (en cot: llegan a la respuesta)",
    "cites": "citan al menos un pasaje [n]",
    "citation_only": "solo una cita, sin texto",
    "abstention_sentence": "escriben la frase de abstención",
}


def draft_shapes(draft: str, new_tokens: int | None, max_new_tokens: int) -> dict[str, bool]:
    """The shape flags of one raw draft."""
    cites = bool(cited_numbers(draft))
    return {
        "at_token_limit": new_tokens is not None and new_tokens >= max_new_tokens,
        "answer_line": ANSWER_LINE in draft,
        "cites": cites,
        "citation_only": cites and not strip_citations(draft).strip(),
        "abstention_sentence": ABSTAIN in draft,
    }


def summarize_outputs(folder: Path) -> list[dict]:
    """Per (strategy, model), in the order the cells appear in results.json when there is
    one: the number of drafts, their mean new tokens and the share of each shape."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for cell_file in sorted((folder / "cells").glob("*.json")):
        cell = json.loads(cell_file.read_text(encoding="utf-8"))
        limit = cell["config"]["assistant"]["generation"]["max_new_tokens"]
        log = folder / "logs" / f"{cell['cell']}.jsonl"
        if not log.is_file():
            raise AssistantError(f"falta el registro de la celda {cell['cell']}: {log}")
        for line in log.read_text(encoding="utf-8").splitlines():
            answer = json.loads(line)["answer"]
            if not answer["draft"]:
                continue
            tokens = answer["timings"].get("new_tokens")
            groups[cell["strategy"], cell["model"]["spec"]].append(
                {**draft_shapes(answer["draft"], tokens, limit), "new_tokens": tokens}
            )
    order = list(groups)
    results = folder / "results.json"
    if results.is_file():
        ranked = [
            (c["strategy"], c["model"])
            for c in json.loads(results.read_text(encoding="utf-8"))["cells"]
        ]
        order = [key for key in ranked if key in groups] + [k for k in order if k not in ranked]
    rows = []
    for strategy, model in order:
        drafts = groups[strategy, model]
        tokens = [d["new_tokens"] for d in drafts if d["new_tokens"] is not None]
        rows.append(
            {
                "strategy": strategy,
                "model": model,
                "drafts": len(drafts),
                "mean_new_tokens": round(sum(tokens) / len(tokens), 1) if tokens else None,
                **{
                    shape: round(sum(d[shape] for d in drafts) / len(drafts), 4) for shape in SHAPES
                },
            }
        )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| estrategia | modelo | borradores | tokens nuevos (media) | " + " | ".join(SHAPES) + " |",
        "|---|---|---|---|" + "---|" * len(SHAPES),
    ]
    for row in rows:
        lines.append(
            f"| {row['strategy']} | {row['model']} | {row['drafts']} | "
            f"{row['mean_new_tokens']} | "
            + " | ".join(f"{row[shape]:.2f}" for shape in SHAPES)
            + " |"
        )
    lines += ["", *[f"- `{shape}`: {DESCRIPTIONS[shape]}" for shape in SHAPES]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="carpeta --out de un experimento")
    args = parser.parse_args(argv)
    if not (args.folder / "cells").is_dir():
        parser.error(f"{args.folder} no tiene celdas de un experimento (falta cells/)")
    try:
        rows = summarize_outputs(args.folder)
    except AssistantError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    atomic_write_bytes(
        args.folder / "outputs_summary.json",
        json.dumps(rows, ensure_ascii=False, indent=1).encode("utf-8"),
    )
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
