"""Does llama.cpp's own prompt lookup (llama-cpp-python's ``LlamaPromptLookupDecoding``)
speed up the held-out answers? The fairness check for bench_generation's task row.

    python -m eval.bench.llama_cpp_lookup --gguf MERGED.gguf [--out docs/results/llama_cpp_lookup.json]

In .venv: the held-out prompts' ids and our default engine's number of new tokens per
question (as in bench_generation's task row), written to a temporary file; then in the
benchmark venv (``--worker``, llama_cpp only) llama.cpp answers them greedily through
``Llama.generate`` without a draft model and with prompt lookup drafting 3 and 10 tokens,
each for exactly as many tokens. Prints p50 answer time per setting and how many answers'
tokens lookup changed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = (("no lookup", 0), ("lookup, 3 drafted", 3), ("lookup, 10 drafted", 10))


def worker(gguf: str, prompts_file: str) -> None:
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    prompts = json.loads(Path(prompts_file).read_text())
    report, outputs = {}, {}
    for name, draft in SETTINGS:
        options = {"draft_model": LlamaPromptLookupDecoding(num_pred_tokens=draft)} if draft else {}
        llm = Llama(
            model_path=gguf, n_ctx=2048, n_batch=1024, n_threads=2, n_threads_batch=2,
            verbose=False, **options,
        )  # fmt: skip
        times, outputs[name] = [], []
        for index, prompt in enumerate([prompts[0], *prompts]):  # the first one warms up
            began, tokens = time.perf_counter(), []
            for token in llm.generate(prompt["ids"], temp=0.0, top_k=1, repeat_penalty=1.0):
                tokens.append(token)
                if len(tokens) == prompt["new"]:
                    break
            if index:
                times.append((time.perf_counter() - began) * 1000)
                outputs[name].append(tokens)
        report[name] = {"total_p50_ms": round(statistics.median(times), 1)}
        del llm
    plain = outputs[SETTINGS[0][0]]
    for name, _ in SETTINGS[1:]:
        report[name]["answers_whose_tokens_changed"] = sum(
            a != b for a, b in zip(plain, outputs[name])
        )
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True, help="export-gguf --type q8_0")
    parser.add_argument("--venv", type=Path, default=ROOT / ".cache" / "bench-venv")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/results/llama_cpp_lookup.json")
    args = parser.parse_args()

    from assistant.generators.adapters import adapter_for
    from assistant.generators.hf import HFGenerator
    from corpus.files import atomic_write_text
    from eval.harness import answer_config, logged_prompts

    generator = HFGenerator("gemma-270m", adapter=adapter_for("gemma-270m", "default"))
    config = answer_config()
    prompts = []
    for prompt in logged_prompts():
        ids = generator.encode(prompt)
        prompts.append({"ids": ids, "new": max(1, len(list(generator.token_steps(ids, config))))})
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(prompts, handle)
        handle.flush()
        done = subprocess.run(
            [str(args.venv / "bin" / "python"), __file__, "--worker", str(args.gguf), handle.name],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    report = {
        "command": "python -m eval.bench.llama_cpp_lookup " + " ".join(sys.argv[1:]),
        "questions": len(prompts),
        "gguf": args.gguf.name,
        "llama_cpp": json.loads(done.stdout.strip().splitlines()[-1]),
    }
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
