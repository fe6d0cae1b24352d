"""FAISS at scale: 100,000 synthetic 384-d unit vectors, flat vs HNSW vs IVF.

    python -m eval.bench.scale [--n 100000] [--out docs/results/scale.json]

Reports build time, memory (index bytes and process RSS growth), single-query search p50
and p95 (k=10), and recall@10 of the approximate indexes against exact search. The
vectors are clustered (random centres + noise) rather than uniform, closer to real
embeddings, where approximate indexes behave differently from on uniform noise.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import faiss
import numpy as np
import psutil

from eval.harness import emit
from index.config import IndexConfig
from index.faiss_store import build_faiss

DIM = 384
# Per-dimension noise around 1,000 cluster centres: neighbours are clearly closer than
# strangers, as with real sentence embeddings (uniform noise makes every point equidistant).
NOISE = 0.35


def synthetic_vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 100, 1), DIM)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), n)] + NOISE * rng.standard_normal(
        (n, DIM)
    ).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def build(kind: str, vectors: np.ndarray) -> faiss.Index:
    if kind == "ivf":
        quantizer = faiss.IndexFlatIP(DIM)
        index = faiss.IndexIVFFlat(quantizer, DIM, 1024, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.add(vectors)
        index.nprobe = 16
        return index
    return build_faiss(vectors, IndexConfig(faiss_index=kind))


def measure(kind: str, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray | None) -> dict:
    rss_before = rss_mb()
    began = time.perf_counter()
    index = build(kind, vectors)
    build_s = time.perf_counter() - began
    rss_growth = rss_mb() - rss_before
    timings, found = [], []
    for query in queries:
        began = time.perf_counter()
        _, rows = index.search(query.reshape(1, -1), 10)
        timings.append((time.perf_counter() - began) * 1000)
        found.append(rows[0])
    result = {
        "build_s": round(build_s, 2),
        "index_mb": round(len(faiss.serialize_index(index)) / 1e6, 1),
        "rss_growth_mb": round(rss_growth, 1),
        "search_ms_p50": round(statistics.median(timings), 3),
        "search_ms_p95": round(statistics.quantiles(timings, n=20)[18], 3),
    }
    if truth is not None:
        hits = [len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]
        result["recall@10_vs_exact"] = round(float(np.mean(hits)), 4)
    return result, np.array(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    vectors = synthetic_vectors(args.n)
    queries = synthetic_vectors(args.queries, seed=1)
    results = {
        "n": args.n,
        "dim": DIM,
        "queries": args.queries,
        "faiss": faiss.__version__,
        "threads": faiss.omp_get_max_threads(),
    }
    flat, truth = measure("flat", vectors, queries, None)
    results["flat"] = flat
    for kind in ("hnsw", "ivf"):
        results[kind], _ = measure(kind, vectors, queries, truth)
    results["process_rss_mb"] = round(rss_mb(), 1)
    emit(results, args.out)


if __name__ == "__main__":
    main()
