"""False positives of the prompt-injection filter on real notes: numbers, not a test.

    python -m eval.bench.injection_filter [--out docs/results/injection_filter.json]

Every sentence of the default notes, the water-cycle notes and the SQuAD-es dev and test
articles (indexed as notes folders) is run through ``prompts.is_instruction``; none of
them is an order to a model, so every sentence withheld is a false positive. The filter
this one replaced (whole lines, nouns such as "prompt del sistema" alone enough) is
measured beside it on the same text: it withheld the line, so its count is of paragraphs.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from eval.harness import emit

FOLDERS = {
    "default_notes": Path("corpus/notes"),
    "ood_notes": Path("eval/data/ood_notes"),
    "squad_es_dev": Path("eval/data/squad_es/dev/notes"),
    "squad_es_test": Path("eval/data/squad_es/test/notes"),
}
# The filter before issue 23, kept here only to measure what it withheld.
PREVIOUS = re.compile(
    r"\b(ignor\w*|olvid\w*|desobedec\w*|omit\w*|disregard|forget)\b[^.\n]{0,40}"
    r"\b(instruc\w*|indicaciones|reglas|rules|prompt)\b"
    r"|\b(system prompt|prompt del sistema|eres ahora|you are now|act[uú]a como)\b",
    re.IGNORECASE,
)


def measure(folder: Path) -> dict:
    from assistant.prompts import is_instruction
    from corpus.loader import load_notes
    from corpus.markdown import plain_text
    from corpus.text import sentences

    lines = [
        plain_text(line)
        for note in load_notes(folder).notes
        for line in note.text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    units = [s.strip() for line in lines for s in sentences(line) if s.strip()]
    withheld = [s for s in units if is_instruction(s)]
    previous = [line for line in lines if PREVIOUS.search(line)]
    return {
        "sentences": len(units),
        "withheld": len(withheld),
        "examples": withheld[:10],
        "lines": len(lines),
        "previous_filter_lines_withheld": len(previous),
        "previous_examples": previous[:5],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    emit({name: measure(folder) for name, folder in FOLDERS.items()}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
