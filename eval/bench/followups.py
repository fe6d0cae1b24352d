"""Follow-up questions: retrieval recall@5 of the second turn with and without history.

    python -m eval.bench.followups [--out docs/results/followups.json]

Rows of eval/data/followups.jsonl: {"id", "first", "second", "evidence": [..]}; the
evidence is for the second turn, with the relevance rule of the retrieval eval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.conversation import Turn, is_follow_up, resolve_query
from corpus.questions import is_relevant
from eval.harness import emit
from index.store import NotesIndex

ROOT = Path(__file__).resolve().parents[2]
PAIRS = ROOT / "eval" / "data" / "followups.jsonl"


def load_pairs(path: Path = PAIRS) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def followup_recall(index: NotesIndex, pairs: list[dict], k: int = 5) -> dict:
    found = {"without_history": 0, "with_history": 0}
    rows = []
    for pair in pairs:
        history = [Turn(pair["first"], resolve_query(pair["first"]))]
        queries = {
            "without_history": pair["second"],
            "with_history": resolve_query(pair["second"], history),
        }
        row = {"id": pair["id"], "detected_follow_up": is_follow_up(pair["second"])}
        for name, query in queries.items():
            hit = any(is_relevant(h.chunk.text, pair["evidence"]) for h in index.search(query, k))
            found[name] += hit
            row[name] = hit
        rows.append(row)
    n = len(pairs)
    return {
        "n": n,
        f"recall@{k}_without_history": round(found["without_history"] / n, 4),
        f"recall@{k}_with_history": round(found["with_history"] / n, 4),
        "rows": rows,
    }


def main() -> None:
    from index.store import open_index

    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", default=str(ROOT / "corpus" / "notes"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = followup_recall(open_index(args.notes)[0], load_pairs())
    emit(result, args.out)


if __name__ == "__main__":
    main()
