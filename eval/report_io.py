"""The one way a benchmark hands back its numbers: JSON on stdout, and the whole report
written atomically to ``--out`` when given."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def emit(report: dict, out: Path | None = None, shown: dict | None = None) -> None:
    """Print ``shown`` (default: the report) as JSON; write ``report`` to ``out``."""
    json.dump(report if shown is None else shown, sys.stdout, indent=2, ensure_ascii=False)
    print()
    if out:
        from corpus.files import atomic_write_text

        atomic_write_text(out, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
