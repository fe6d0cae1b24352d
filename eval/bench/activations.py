"""The chat model's activations in bf16 or fp32, side by side on this CPU.

    python -m eval.bench.activations [--runs 3] [--out docs/results/activations.json]

The default engine (Gemma 3 270M, the reader adapter merged, int8 weights) computes in
bf16 where the CPU multiplies bf16 natively and in fp32 elsewhere
(``generators.int8.activation_dtype``). This loads it once and answers the held-out notes
questions' real prompts (the select -> write path's log, ``--logs``) with the assistant's
decoding settings, switching the same model between the two dtypes (``compute_in``; bf16
-> fp32 -> bf16 is exact) in alternating order every round. Per dtype: first token and
total time, p50 over the prompts, the median over rounds; and on how many prompts the two
dtypes give the same tokens.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from eval.bench.stream_timing import time_stream
from eval.harness import ROOT, answer_config, emit, logged_prompts

LOGS = ROOT / "docs" / "results" / "select_write_2026-12-07" / "cells"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--logs", type=Path, default=LOGS)
    parser.add_argument("--limit", type=int, default=0, help="first N prompts (0: all)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.runs < 1 or args.limit < 0:
        parser.error("--runs must be >= 1 and --limit >= 0")
    prompts = logged_prompts("heldout", args.logs)
    prompts = prompts[: args.limit] if args.limit else prompts

    import torch

    from assistant.generators import get_generator
    from assistant.generators.adapters import adapter_for
    from assistant.generators.int8 import compute_in
    from index.cpu import native_bf16

    generator = get_generator("gemma-270m", adapter_for("gemma-270m", "default"))
    config = answer_config()
    ids = [generator.encode(prompt) for prompt in prompts]
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    rounds: dict[str, list[dict]] = {name: [] for name in dtypes}
    tokens: dict[str, list] = {}
    for run in range(args.runs):
        order = list(dtypes) if run % 2 == 0 else list(dtypes)[::-1]
        for name in order:
            compute_in(generator.model, dtypes[name])
            timed = [time_stream(generator.token_steps(prompt, config)) for prompt in ids]
            tokens[name] = [t["tokens"] for t in timed]
            rounds[name].append(
                {
                    "ttft_s_p50": statistics.median(t["ttft_s"] for t in timed),
                    "total_s_p50": statistics.median(t["total_s"] for t in timed),
                }
            )
            print(f"round {run + 1} {name}: {rounds[name][-1]}", file=sys.stderr, flush=True)
    report = {
        "command": "python -m eval.bench.activations " + " ".join(argv or sys.argv[1:]),
        "native_bf16": native_bf16(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "prompts": len(ids),
        "mean_prompt_tokens": round(statistics.mean(len(i) for i in ids), 1),
        "same_tokens": sum(a == b for a, b in zip(tokens["bf16"], tokens["fp32"], strict=True)),
    }
    for name, measured in rounds.items():
        report[name] = {
            key: round(statistics.median(r[key] for r in measured), 3)
            for key in ("ttft_s_p50", "total_s_p50")
        } | {"rounds": measured}
    report["fp32_speedup"] = {
        key: round(report["bf16"][key] / report["fp32"][key], 2)
        for key in ("ttft_s_p50", "total_s_p50")
    }
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
