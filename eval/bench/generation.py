"""Generation speed on CPU: our transformers backend per precision vs llama.cpp on the
same GGUF file, side by side in one run.

    bash eval/setup_llama_cpp_bench.sh          # once: llama-cpp-python in .cache/bench-venv
    python -m eval.bench.generation [--runs 3] [--out docs/results/generation.json]

For each model and precision (fp32, bf16, int8w, int8) and for llama.cpp (run through
eval/bench/llama_cpp_worker.py in the benchmark venv, model loaded once) it reports:

- ``ttft_ms``: a 1,000-token prompt to the first new token (prefill + lm_head + choice);
- ``decode_tok_s``: new tokens per second after the first, in the 256 + 64 run;
- ``total_256_64_ms``: a 256-token prompt and 64 new tokens, end to end.

Fidelity, since precision is a speed/quality trade: ``top1_agreement_with_fp32`` (share
of 50 teacher-forced positions where a precision's top-1 token equals our fp32's) and
``greedy_tokens_agreeing_with_llama_cpp`` (leading greedy tokens shared with llama.cpp).

Prompt lookup (``HFConfig.draft_tokens``, on by default under greedy decoding) is measured
as its own row, ``int8w+lookup``; the precision rows run with it off, one token per pass.
``decode_breakdown`` splits our per-token decode time into the output layer (lm_head), the
transformer layers (attention, MLP) and the rest (Python, sampling), with lookup off and on.

``task``: the held-out notes questions' real prompts (logged by the reader bench), answered
by the default engine (int8w, the shipped adapter merged, prompt lookup) with the real
decoding settings (repetition penalty, abstention veto, 160 new tokens at most, stopping at
an end token; stop strings are text-level and not applied here), and the same ids given to
llama.cpp running the same merged model (``export-gguf --type q8_0``) for exactly as many
new tokens as ours produced, both through the bare eval/sample loop and through
``Llama.generate`` (in its own process: it keeps the KV of the prefix a prompt shares with
the previous question, the assistant's instructions, and samples with top_k=1). ``--models``
with no names runs the task row alone and merges it into ``--out``. Per round the p50 over
the questions, the ratio of p50s per
round, medians over rounds; also the acceptance rate of the drafts and on how many
questions lookup changed the greedy tokens.

Both sides get the same token ids (from our tokenizer) and decode greedily for exactly the
same number of tokens (end tokens ignored). The machine is shared with other jobs: every
figure is a median of ``--runs`` rounds, every round runs all engines one after the other
(in a rotating order), and the ratios are medians of per-round ratios, so a busy minute
slows both sides of a pair. Before each measurement the script waits (up to
``--max-wait`` s) for the CPU pressure (/proc/pressure/cpu, some avg10) to settle, and
records it. Ratios: llama.cpp time / our time, and our tok/s / llama.cpp tok/s, so >= 1.0
means we are at least as fast.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corpus.files import atomic_write_text
from eval.bench.stream_timing import time_stream
from eval.harness import answer_config, logged_prompts

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "eval" / "bench" / "llama_cpp_worker.py"
DEFAULT_VENV = ROOT / ".cache" / "bench-venv"
NOTES = ROOT / "corpus" / "notes"
LONG_PROMPT, SHORT_PROMPT, NEW_TOKENS = 1000, 256, 64
LOOKUP_ROW = "int8w+lookup"
QUIET_PSI = 20.0  # % of the last 10 s in which some task waited for a CPU


def cpu_pressure() -> float | None:
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None  # no PSI (older kernel, macOS): measure without waiting
    return float(dict(part.split("=") for part in first.split()[1:])["avg10"])


def wait_for_quiet(max_wait: float) -> float | None:
    """Waits until other jobs leave the CPU alone (or max_wait s pass); the pressure seen."""
    deadline = time.monotonic() + max_wait
    pressure = cpu_pressure()
    while pressure is not None and pressure > QUIET_PSI and time.monotonic() < deadline:
        time.sleep(2)
        pressure = cpu_pressure()
    return pressure


def cpu_model() -> str:
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    ):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def notes_text() -> str:
    """Real Spanish notes, repeated until long enough: the prompts the model will see."""
    text = "\n\n".join(path.read_text(encoding="utf-8") for path in sorted(NOTES.rglob("*.md")))
    return text * (1 + 20_000 // max(len(text), 1))


def prompt_ids(generator, length: int) -> list[int]:
    ids = generator.encode(notes_text())
    if len(ids) < length:
        raise SystemExit(f"the notes give only {len(ids)} tokens, {length} needed")
    return ids[:length]


class LlamaCpp:
    """The worker process holding the GGUF loaded in llama.cpp."""

    def __init__(self, python: Path, gguf: Path, threads: int) -> None:
        self.process = subprocess.Popen(
            [str(python), str(WORKER), str(gguf), str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready = json.loads(self.process.stdout.readline() or "{}")
        if not ready.get("ready"):
            raise SystemExit(f"llama.cpp worker did not start on {gguf}")
        self.version = subprocess.run(
            [str(python), "-c", "import llama_cpp; print(llama_cpp.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def run(self, ids: list[int], new: int, generate: bool = False) -> dict:
        request = {"ids": ids, "new": new} | ({"generate": True} if generate else {})
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def with_drafts(generator, draft_tokens: int):
    """``generator`` set to draft ``draft_tokens`` per pass (0: one token per pass)."""
    from dataclasses import replace

    if generator.config.draft_tokens != draft_tokens:
        generator.config = replace(generator.config, draft_tokens=draft_tokens)
    return generator


def ours_run(generator, ids: list[int], new: int, draft_tokens: int = 0) -> dict:
    return time_stream(ours_run_steps(generator, ids, new, draft_tokens))


def hf_generate_total(generator, ids: list[int], new: int) -> float:
    """transformers' generate() on the same model and prompt, for loop_vs_generate."""
    import torch

    prompt = torch.tensor([ids])
    began = time.perf_counter()
    with torch.inference_mode():
        generator.model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            pad_token_id=generator.tokenizer.pad_token_id,
        )
    return time.perf_counter() - began


def last_logits(generator, ids: list[int], positions: int = 50):
    """Teacher-forced logits (positions, vocab) of the last ``positions`` prompt tokens."""
    import torch

    with torch.inference_mode():
        logits = generator.model(input_ids=torch.tensor([ids])).logits
    return logits[0, -positions:].float()


def fidelity(generators: dict, ids: list[int]) -> dict:
    """How often each precision's top-1 next token equals fp32's (same prompt, teacher
    forced, so one early difference does not decide the rest as in greedy decoding)."""
    if "fp32" not in generators:
        return {}
    reference = last_logits(generators["fp32"], ids).argmax(-1)
    return {
        precision: round(
            float((last_logits(generator, ids).argmax(-1) == reference).float().mean()), 2
        )
        for precision, generator in generators.items()
    }


def measure(engine, long_ids, short_ids, max_wait: float) -> dict:
    pressure_long = wait_for_quiet(max_wait)
    long = engine(long_ids, 1)
    pressure_short = wait_for_quiet(max_wait)
    short = engine(short_ids, NEW_TOKENS)
    return {
        "ttft_ms": long["ttft_s"] * 1000,
        "decode_tok_s": (NEW_TOKENS - 1) / short["decode_s"],
        "total_256_64_ms": short["total_s"] * 1000,
        "psi_avg10": [pressure_long, pressure_short],
        "tokens": short["tokens"],
    }


def summarise(rounds: list[dict]) -> dict:
    keys = ("ttft_ms", "decode_tok_s", "total_256_64_ms")
    summary = {key: round(statistics.median(r[key] for r in rounds), 1) for key in keys}
    summary["runs"] = {key: [round(r[key], 1) for r in rounds] for key in keys}
    summary["psi_avg10"] = [r["psi_avg10"] for r in rounds]
    return summary


def decode_breakdown(generator, ids: list[int], new: int, draft_tokens: int) -> dict:
    """Milliseconds per generated token (prefill excluded) in lm_head, in the decoder
    layers (of which attention and MLP) and elsewhere, timed by forward hooks (CPU ops run
    synchronously, so wall time between a module's pre- and post-hook is its cost). The
    hooks add a little overhead of their own: compare the shares, not the absolute tok/s
    with the rounds above."""
    model = generator.model
    parts = {"lm_head": [model.lm_head]}
    parts["layers"] = list(model.model.layers)
    parts["attention"] = [layer.self_attn for layer in model.model.layers]
    parts["mlp"] = [layer.mlp for layer in model.model.layers]
    spent = dict.fromkeys(parts, 0.0)
    started: dict = {}

    def timers(part: str):
        def pre(module, args):
            started[module] = time.perf_counter()

        def post(module, args, output):
            spent[part] += time.perf_counter() - started[module]

        return pre, post

    handles = []
    for part, modules in parts.items():
        pre, post = timers(part)
        for module in modules:
            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        stream = ours_run_steps(generator, ids, new + 1, draft_tokens)
        next(stream)  # the prefill and first token: not decode
        spent.update(dict.fromkeys(parts, 0.0))
        began = time.perf_counter()
        tokens = 1 + sum(1 for _ in stream)
        total = time.perf_counter() - began
    finally:
        for handle in handles:
            handle.remove()
    decoded = tokens - 1
    per_token = {part: round(seconds * 1000 / decoded, 2) for part, seconds in spent.items()}
    per_token["other"] = round((total - spent["lm_head"] - spent["layers"]) * 1000 / decoded, 2)
    per_token["total"] = round(total * 1000 / decoded, 2)
    per_token["passes_per_token"] = round(generator.stats["passes"] / tokens, 2)
    return per_token


def ours_run_steps(generator, ids: list[int], new: int, draft_tokens: int):
    """Greedy token ids, end tokens ignored, with no repetition penalty (llama.cpp's
    sample() applies none by default either)."""
    from assistant.generators import GenerationConfig

    config = GenerationConfig(max_new_tokens=new, temperature=0.0, repetition_penalty=1.0)
    return with_drafts(generator, draft_tokens).token_steps(ids, config, ignore_end=True)


def bench_task(rounds: int, venv: Path, max_wait: float, scratch: Path) -> dict:
    """Answer latency over the held-out questions: ours (default engine, lookup off and
    on) against llama.cpp on the same merged model, same ids, same number of new tokens."""
    from assistant.generators.adapters import adapter_for
    from assistant.generators.hf import HFConfig, HFGenerator
    from assistant.training.gguf_export import export_gguf

    adapter = adapter_for("gemma-270m", "default")
    generator = HFGenerator("gemma-270m", adapter=adapter)
    lookup = HFConfig().draft_tokens
    merged = export_gguf(scratch / "merged-q8_0.gguf", "default", "q8_0")
    llama = LlamaCpp(venv / "bin" / "python", merged, generator.config.thread_count)
    llama_generate = LlamaCpp(venv / "bin" / "python", merged, generator.config.thread_count)
    prompts = [generator.encode(prompt) for prompt in logged_prompts()]
    config = answer_config()

    def ours(ids, draft_tokens):
        timing = time_stream(with_drafts(generator, draft_tokens).token_steps(ids, config))
        timing["stats"] = dict(generator.stats)
        return timing

    # An untimed pass first: the tokens each setting produces, so llama.cpp can be asked
    # for exactly as many, and the draft statistics.
    plain = [ours(ids, 0) for ids in prompts]
    drafted = [ours(ids, lookup) for ids in prompts]
    counts = [max(1, len(run["tokens"])) for run in drafted]
    engines = {
        "ours_no_lookup": lambda ids, new: ours(ids, 0),
        "ours": lambda ids, new: ours(ids, lookup),
        "llama.cpp": lambda ids, new: llama.run(ids, new),
        # Llama.generate reuses the KV of the prefix shared with the previous question: its
        # own process, so that what it finds cached is only ever the previous question.
        "llama.cpp_generate": lambda ids, new: llama_generate.run(ids, new, generate=True),
    }
    per_round: list[dict] = []
    for round_index in range(rounds):
        names = list(engines)
        shift = round_index % len(names)
        order = names[shift:] + names[:shift]
        runs: dict[str, list[dict]] = {engine: [] for engine in engines}
        pressure = []
        for ids, new in zip(prompts, counts):
            pressure.append(wait_for_quiet(max_wait))
            for engine in order:
                runs[engine].append(engines[engine](ids, new))
        seen = [p for p in pressure if p is not None]
        per_round.append(
            {
                engine: {
                    "total_p50_ms": statistics.median(r["total_s"] * 1000 for r in timings),
                    "first_token_p50_ms": statistics.median(r["ttft_s"] * 1000 for r in timings),
                }
                for engine, timings in runs.items()
            }
            | {"psi_avg10_median": statistics.median(seen) if seen else None}
        )
        print(f"[task] round {round_index + 1}/{rounds}: {per_round[-1]}", file=sys.stderr)
    llama.close()
    llama_generate.close()
    stats = [run["stats"] for run in drafted]
    proposed = sum(stat["drafted"] for stat in stats)
    accepted = sum(stat["accepted"] for stat in stats)
    tokens = sum(len(run["tokens"]) for run in drafted)
    summary = {
        engine: {
            key: round(statistics.median(r[engine][key] for r in per_round), 1)
            for key in ("total_p50_ms", "first_token_p50_ms")
        }
        for engine in engines
    }

    def ratio(slow: str, fast: str) -> float:
        return round(
            statistics.median(r[slow]["total_p50_ms"] / r[fast]["total_p50_ms"] for r in per_round),
            2,
        )

    return {
        "questions": len(prompts),
        "gguf": f"{merged.name} (export-gguf --adapter default --type q8_0)",
        "new_tokens_mean": round(tokens / len(prompts), 1),
        "rounds": per_round,
        "p50": summary,
        "ratio_total_llama_cpp_over_ours": ratio("llama.cpp", "ours"),
        "ratio_total_llama_cpp_generate_over_ours": ratio("llama.cpp_generate", "ours"),
        "ratio_total_no_lookup_over_lookup": ratio("ours_no_lookup", "ours"),
        "lookup": {
            "draft_tokens": lookup,
            "drafted": proposed,
            "accepted": accepted,
            "acceptance_rate": round(accepted / proposed, 3) if proposed else None,
            "tokens_per_pass": round(tokens / sum(stat["passes"] for stat in stats), 2),
            "questions_whose_greedy_tokens_changed": sum(
                a["tokens"] != b["tokens"] for a, b in zip(plain, drafted)
            ),
        },
    }


def agreement(ours: list[int], theirs: list[int]) -> int:
    """How many leading greedy tokens both engines chose alike (same weights, other math)."""
    same = 0
    for mine, other in zip(ours, theirs):
        if mine != other:
            break
        same += 1
    return same


def bench_model(name: str, precisions: list[str], runs: int, venv: Path, max_wait: float) -> dict:
    from assistant.generators.hf import DEFAULT_PRECISION, HFConfig, HFGenerator
    from assistant.generators.model_cache import gguf_path
    from corpus.paths import default_cache_dir

    generators = {}
    for precision in precisions:
        began = time.perf_counter()
        generators[precision] = HFGenerator(name, config=HFConfig(precision=precision))
        print(
            f"[{name}] {precision} loaded in {time.perf_counter() - began:.1f} s", file=sys.stderr
        )
    any_generator = next(iter(generators.values()))
    threads = any_generator.config.thread_count
    gguf = gguf_path(name, default_cache_dir() / "bench")
    llama = LlamaCpp(venv / "bin" / "python", gguf, threads)
    long_ids, short_ids = (
        prompt_ids(any_generator, LONG_PROMPT),
        prompt_ids(any_generator, SHORT_PROMPT),
    )

    engines = {p: (lambda ids, new, g=g: ours_run(g, ids, new)) for p, g in generators.items()}
    if DEFAULT_PRECISION in generators:
        engines[LOOKUP_ROW] = lambda ids, new: ours_run(
            generators[DEFAULT_PRECISION], ids, new, HFConfig().draft_tokens
        )
    engines["llama.cpp"] = llama.run
    for engine in engines.values():  # warm-up: first calls pay one-off kernel set-up
        engine(short_ids[:32], 2)

    order = list(engines)
    results: dict[str, list[dict]] = {engine: [] for engine in order}
    generate_rounds = []
    for round_index in range(runs):
        shift = round_index % len(order)
        for engine in order[shift:] + order[:shift]:
            results[engine].append(measure(engines[engine], long_ids, short_ids, max_wait))
            print(
                f"[{name}] round {round_index + 1}/{runs} {engine}: "
                f"ttft {results[engine][-1]['ttft_ms']:.0f} ms, "
                f"{results[engine][-1]['decode_tok_s']:.1f} tok/s, "
                f"256+64 {results[engine][-1]['total_256_64_ms']:.0f} ms",
                file=sys.stderr,
            )
        if DEFAULT_PRECISION in generators:
            wait_for_quiet(max_wait)
            loop = ours_run(generators[DEFAULT_PRECISION], short_ids, NEW_TOKENS)["total_s"]
            with_drafts(generators[DEFAULT_PRECISION], 0)
            generate = hf_generate_total(generators[DEFAULT_PRECISION], short_ids, NEW_TOKENS)
            generate_rounds.append((loop * 1000, generate * 1000))
    llama.close()
    rows = [engine for engine in order if engine != "llama.cpp"]

    reference = results["llama.cpp"]
    report = {
        "gguf": gguf.name,
        "threads": threads,
        "llama_cpp_version": llama.version,
        "llama_cpp": summarise(reference),
        "ours": {p: summarise(results[p]) for p in rows},
        "top1_agreement_with_fp32": fidelity(generators, short_ids),
        "ratios": {},
        "greedy_tokens_agreeing_with_llama_cpp": {},
    }
    for precision in rows:
        paired = list(zip(results[precision], reference))
        report["ratios"][precision] = {
            "ttft": round(
                statistics.median(ref["ttft_ms"] / mine["ttft_ms"] for mine, ref in paired), 2
            ),
            "decode": round(
                statistics.median(
                    mine["decode_tok_s"] / ref["decode_tok_s"] for mine, ref in paired
                ),
                2,
            ),
            "total_256_64": round(
                statistics.median(
                    ref["total_256_64_ms"] / mine["total_256_64_ms"] for mine, ref in paired
                ),
                2,
            ),
        }
        report["greedy_tokens_agreeing_with_llama_cpp"][precision] = (
            f"{agreement(results[precision][0]['tokens'], reference[0]['tokens'])}/{NEW_TOKENS}"
        )
    if DEFAULT_PRECISION in generators:
        wait_for_quiet(max_wait)
        default = generators[DEFAULT_PRECISION]
        report["decode_breakdown_ms_per_token"] = {
            "precision": DEFAULT_PRECISION,
            "prompt_tokens": SHORT_PROMPT,
            "new_tokens": NEW_TOKENS,
            "lookup_off": decode_breakdown(default, short_ids, NEW_TOKENS, 0),
            LOOKUP_ROW: decode_breakdown(default, short_ids, NEW_TOKENS, HFConfig().draft_tokens),
        }
    if generate_rounds:
        report["loop_vs_generate"] = {
            "precision": DEFAULT_PRECISION,
            "manual_loop_total_256_64_ms": round(
                statistics.median(r[0] for r in generate_rounds), 1
            ),
            "hf_generate_total_256_64_ms": round(
                statistics.median(r[1] for r in generate_rounds), 1
            ),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        nargs="*",
        default=["gemma-270m", "smollm2-135m"],
        help="none (--models alone): only the task row, merged into the existing --out",
    )
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8w", "int8"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-wait", type=float, default=30.0, help="s to wait for a quiet CPU")
    parser.add_argument("--bench-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "generation.json")
    parser.add_argument(
        "--task-rounds", type=int, default=3, help="rounds of the held-out task row (0: skip it)"
    )
    args = parser.parse_args()
    if not (args.bench_venv / "bin" / "python").exists():
        raise SystemExit(
            f"no benchmark venv at {args.bench_venv}: run bash eval/setup_llama_cpp_bench.sh"
        )
    os.environ["HF_HUB_OFFLINE"] = "1"

    import torch
    import transformers

    from assistant.generators.hf import DEFAULT_PRECISION

    report = {
        "command": "python -m eval.bench.generation " + " ".join(sys.argv[1:]),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "settings": {
            "runs": args.runs,
            "ttft_prompt_tokens": LONG_PROMPT,
            "short_prompt_tokens": SHORT_PROMPT,
            "new_tokens": NEW_TOKENS,
            "decoding": "greedy, end tokens ignored, repetition penalty 1.0 on both sides",
            "default_precision": DEFAULT_PRECISION,
            "ratio_meaning": "llama.cpp time / our time; our tok/s / llama.cpp tok/s (>= 1: we are as fast)",
        },
        "models": {},
    }
    for name in args.models:
        report["models"][name] = bench_model(
            name, args.precisions, args.runs, args.bench_venv, args.max_wait
        )
    if args.task_rounds:
        scratch = Path(tempfile.mkdtemp(dir=ROOT / ".cache", prefix="bench-task-"))
        try:
            report["task"] = bench_task(args.task_rounds, args.bench_venv, args.max_wait, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if not args.models and args.out.exists():  # the task row alone: keep the rest of --out
        report = json.loads(args.out.read_text(encoding="utf-8")) | {"task": report["task"]}
        report["task_command"] = "python -m eval.bench.generation " + " ".join(sys.argv[1:])
    for model in report["models"].values():  # token lists only served the agreement count
        for summary in [model["llama_cpp"], *model["ours"].values()]:
            summary.pop("tokens", None)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
