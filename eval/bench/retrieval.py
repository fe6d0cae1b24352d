"""Retrieval benchmark on the dev set: chunk sizes, retrievers, fusion weights, timings.

    python -m eval.bench.retrieval [--out docs/results/retrieval.json] [--quick]

Prints JSON (and writes it to --out). Embeddings are cached by content hash in the cache
dir, so re-runs only pay for new chunkings; the cold build timing uses a fresh cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from corpus.config import ChunkConfig
from corpus.questions import load_questions
from eval.harness import emit
from eval.retrieval import evaluate_retrieval
from index.config import IndexConfig
from index.store import NotesIndex, build_index, with_config

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "corpus" / "notes"
DEV = ROOT / "eval" / "data" / "notes_dev.jsonl"
WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
CHUNKINGS = [(400, 50), (600, 80), (800, 100), (1200, 150), (2000, 200)]
METRICS = ("recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10")


def _index(work: Path, chunking: tuple[int, int], embedder: str) -> NotesIndex:
    folder = work / f"{embedder}-{chunking[0]}-{chunking[1]}"
    build_index(NOTES, folder, ChunkConfig(*chunking), IndexConfig(embedder=embedder))
    return NotesIndex.load(folder)


def _row(metrics: dict) -> dict:
    return {name: metrics[name] for name in ("n", *METRICS)}


def sweep_fusion(index: NotesIndex, questions) -> dict:
    """MRR and recall for every dense weight, for score fusion and weighted RRF."""
    table = {}
    for method in ("score", "rrf"):
        searched = with_config(index, fusion=method)
        table[method] = {
            str(w): _row(evaluate_retrieval(searched, questions, "fused", dense_weight=w))
            for w in WEIGHTS
        }
    return table


def best_weight(table: dict) -> tuple[str, float]:
    """Highest MRR@10, then recall@5; ties go to the larger dense weight."""
    candidates = [
        (row["mrr@10"], row["recall@5"], float(w), method)
        for method, rows in table.items()
        for w, row in rows.items()
    ]
    mrr, recall, weight, method = max(candidates)
    return method, weight


def time_cold_build(runs: int) -> list[float]:
    """Wall time of `python -m assistant index` with empty caches, models loaded cold."""
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as scratch:
            env = {**os.environ, "STUDY_ASSISTANT_CACHE": scratch}
            began = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "assistant",
                    "index",
                    "--notes",
                    str(NOTES),
                    "--index",
                    f"{scratch}/index",
                ],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            seconds.append(time.perf_counter() - began)
    return seconds


def time_search(index: NotesIndex, questions, repeats: int) -> list[float]:
    """Milliseconds per search (query embedding, FAISS, BM25, fusion), k=5."""
    index.search("calentamiento", k=5)
    timings = []
    for _ in range(repeats):
        for question in questions:
            began = time.perf_counter()
            index.search(question.question, k=5)
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true", help="default chunking only, 1 timing run")
    args = parser.parse_args()

    questions = load_questions(DEV)
    default_chunking = (ChunkConfig().chunk_size, ChunkConfig().chunk_overlap)
    chunkings = [default_chunking] if args.quick else CHUNKINGS
    work = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    results: dict = {"dev_set": str(DEV.relative_to(ROOT)), "questions": len(questions)}

    by_chunking = {}
    for chunking in chunkings:
        index = _index(work, chunking, "e5-small")
        fusion = sweep_fusion(index, questions)
        method, weight = best_weight(fusion)
        by_chunking[f"{chunking[0]}/{chunking[1]}"] = {
            "chunks": len(index.chunks),
            "bm25": _row(evaluate_retrieval(index, questions, "bm25")),
            "e5": _row(evaluate_retrieval(index, questions, "dense")),
            "fused_best": {"method": method, "dense_weight": weight, **fusion[method][str(weight)]},
        }
        print(
            f"chunking {chunking}: {json.dumps(by_chunking[f'{chunking[0]}/{chunking[1]}'])}",
            file=sys.stderr,
        )
    results["chunk_sweep"] = by_chunking

    index = _index(work, default_chunking, "e5-small")
    fusion = sweep_fusion(index, questions)
    minilm = _index(work, default_chunking, "minilm")
    default = IndexConfig()
    results["default_config"] = {"chunking": asdict(ChunkConfig()), "index": asdict(default)}
    results["retrievers"] = {
        "bm25": _row(evaluate_retrieval(index, questions, "bm25")),
        "minilm": _row(evaluate_retrieval(minilm, questions, "dense")),
        "e5": _row(evaluate_retrieval(index, questions, "dense")),
        "e5+bm25 rrf (unweighted)": fusion["rrf"]["0.5"],
        "fused (default)": _row(evaluate_retrieval(index, questions, "fused")),
    }
    results["fusion_sweep"] = fusion
    results["best_fusion_on_dev"] = dict(zip(("method", "dense_weight"), best_weight(fusion)))

    runs = 1 if args.quick else 3
    cold = time_cold_build(runs)
    searches = time_search(index, [q for q in questions], repeats=runs)
    results["timings"] = {
        "cold_build_s": [round(s, 2) for s in cold],
        "cold_build_s_median": round(statistics.median(cold), 2),
        "search_ms_p50": round(statistics.median(searches), 2),
        "search_ms_p95": round(statistics.quantiles(searches, n=20)[18], 2),
        "searches": len(searches),
    }
    emit(results, args.out)


if __name__ == "__main__":
    main()
