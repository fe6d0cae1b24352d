"""Does llama.cpp run the exported GGUF as we run the model? Greedy tokens side by side.

    bash eval/setup_llama_cpp_bench.sh          # once: llama-cpp-python in .cache/bench-venv
    python -m eval.bench.check_gguf_export [--prompts 10] [--tokens 32] [--out docs/results/gguf_export.json]

Exports the default adapter merged into Gemma 3 270M at f16 and q8_0
(``assistant.training.gguf_export``), then for the prompts of the first ``--prompts`` notes dev
questions (as the reader bench logged them: retrieval over corpus/notes, the default
strategy) decodes ``--tokens`` greedy tokens (end tokens ignored, no repetition penalty) with our
fp32 model and with llama.cpp on each file, from the same token ids. Reports, per type,
how many prompts agree on all tokens, the mean number of leading tokens that agree, and
our logit margin (top-1 minus top-2) at each first disagreement.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from corpus.files import atomic_write_text
from eval.bench.generation import DEFAULT_VENV, LlamaCpp, agreement, last_logits, ours_run_steps
from eval.harness import logged_prompts

ROOT = Path(__file__).resolve().parents[2]


def dev_prompts(count: int) -> list[str]:
    prompts = logged_prompts("dev")
    if len(prompts) < count:
        raise SystemExit(f"the reader bench logged {len(prompts)} dev prompts, {count} asked for")
    return prompts[:count]


def margin_at(generator, ids: list[int], generated: list[int], position: int) -> float:
    """Our top-1 minus top-2 logit where the engines first part: a near tie there is a
    rounding difference (f16 weights, other kernels), a wide gap a wrong tensor."""
    top = last_logits(generator, ids + generated[:position], positions=1)[0].topk(2).values
    return round(float(top[0] - top[1]), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "gguf_export.json")
    args = parser.parse_args()
    if not (args.venv / "bin" / "python").exists():
        raise SystemExit(
            f"no llama.cpp venv at {args.venv}: run bash eval/setup_llama_cpp_bench.sh"
        )

    from assistant.generators.adapters import adapter_for
    from assistant.generators.hf import HFConfig, HFGenerator
    from assistant.training.gguf_export import export_gguf

    adapter = adapter_for("gemma-270m", "default")
    ours = HFGenerator("gemma-270m", adapter=adapter, config=HFConfig(precision="fp32"))
    prompts = dev_prompts(args.prompts)
    prompt_ids = [ours.encode(prompt) for prompt in prompts]
    reference = [list(ours_run_steps(ours, ids, args.tokens, 0)) for ids in prompt_ids]
    report = {
        "model": "gemma-270m",
        "adapter": Path(ours.adapter).name,
        "ours": "transformers, fp32, adapter merged",
        "prompts": len(prompts),
        "tokens": args.tokens,
        "decoding": "greedy, end tokens ignored, repetition penalty 1.0 on both sides",
        "types": {},
    }
    with tempfile.TemporaryDirectory(dir=ROOT / ".cache") as scratch:
        for gguf_type in ("f16", "q8_0"):
            began = time.perf_counter()
            path = export_gguf(Path(scratch) / f"export-{gguf_type}.gguf", "default", gguf_type)
            seconds = time.perf_counter() - began
            llama = LlamaCpp(args.venv / "bin" / "python", path, ours.config.thread_count)
            theirs = [llama.run(ids, args.tokens)["tokens"] for ids in prompt_ids]
            llama.close()
            leading = [agreement(a, b) for a, b in zip(reference, theirs)]
            report["types"][gguf_type] = {
                "file_mib": round(path.stat().st_size / 2**20),
                "export_seconds": round(seconds, 1),
                "prompts_agreeing_on_all_tokens": sum(n == args.tokens for n in leading),
                "mean_leading_tokens_agreeing": round(sum(leading) / len(leading), 1),
                "leading_tokens_agreeing": leading,
                # Where they part, our fp32 margin between its first and second choice.
                "our_logit_margin_where_they_part": [
                    margin_at(ours, ids, mine, n)
                    for ids, mine, n in zip(prompt_ids, reference, leading)
                    if n < args.tokens
                ],
            }
            report["llama_cpp_version"] = llama.version
            print(f"{gguf_type}: {report['types'][gguf_type]}", file=sys.stderr)
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
