"""Where a cold start goes (issue 24, item 3): ``ask`` from a new process, to its first
answer byte and to its end, and the app from its start to "Modelos listos".

    python -m eval.bench.cold_start [--runs 5] [--no-app] [--out docs/results/cold_start.json]

Commands timed, each from ``--runs`` fresh processes (medians), over an index of the
default notes built beforehand in a temporary folder (the models' prepared caches are
the user's, as after ``prepare-models``):
- ``search``;
- ``ask --strategy extractive`` (no chat model);
- ``ask`` with the defaults (the tuned chat model writes).

Wall times are measured by this process: from the spawn to the child's first stdout byte
(the answer streams to stdout; everything else goes to stderr) and to its exit. One more
process per command runs with timers around the loading steps (``--child``), which gives
the breakdown: Python and the CLI's imports, the index, the embedder, the chat model
(torch and transformers imports, the prepared weights, the tokenizer, the load, the
adapter's merge, the int8 packing), the checker, and the answer to its first token.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import runpy
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eval.harness import emit

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "¿Para qué sirve LoRA?"  # an "other" form: the model writes it
MARK = "COLD_START_STEPS "
# name -> (argv, environment): "ask_unprepared" is the chat model's load before the
# prepared file (generators.prepared) existed: fp32 load, adapter merge, int8 packing.
COMMANDS = {
    "search": (["search"], {}),
    "ask_extractive": (["ask", "--strategy", "extractive"], {}),
    "ask": (["ask"], {}),
    "ask_unprepared": (["ask"], {"STUDY_ASSISTANT_PREPARED": "0"}),
}
# (module, attribute path): each call's seconds are summed under "module.attribute".
STEPS = [
    ("index.store", "NotesIndex.load"),
    ("index.embedders.e5", "E5Embedder.__init__"),
    ("assistant.support", "SupportChecker.__init__"),
    ("assistant.generators.hf", "HFGenerator.__init__"),
    ("assistant.generators.hf", "prepare_model"),
    ("assistant.generators.prepared", "load_prepared"),
    ("assistant.generators.prepared", "load_tokenizer"),
    ("assistant.generators.hf", "quantize_int8_weights"),
    ("assistant.generators.adapters", "apply_adapter"),
]
# Patched only when the chat model loads: importing them is part of what is measured.
MODEL_STEPS = [
    ("transformers", "AutoModelForCausalLM.from_pretrained"),
    ("transformers", "AutoTokenizer.from_pretrained"),
]


def _timed(steps: dict, name: str, function):
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            steps[name] = steps.get(name, 0.0) + time.perf_counter() - began

    return wrapper


def _patch(steps: dict, module_name: str, path: str) -> None:
    owner = importlib.import_module(module_name)
    *parents, attribute = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = owner.__dict__.get(attribute, getattr(owner, attribute))
    if isinstance(original, classmethod):
        function = original.__func__
        setattr(owner, attribute, classmethod(_timed(steps, path, function)))
    else:
        setattr(owner, attribute, _timed(steps, path, original))


def child(argv: list[str]) -> int:
    """Run the CLI with timers around its loading steps; print them on stderr."""
    began = time.perf_counter()
    from assistant import answer as answer_module

    # The CLI as ``python -m assistant`` runs it (run below with runpy: eval sits under
    # the CLI and does not import it); its imports are timed here.
    importlib.import_module("assistant.cli.main")
    steps: dict = {"imports (CLI)": time.perf_counter() - began}
    for module_name, path in STEPS:
        _patch(steps, module_name, path)
    if argv[0] == "ask" and "extractive" not in argv:
        imported = time.perf_counter()
        importlib.import_module("transformers")
        steps["import torch + transformers"] = time.perf_counter() - imported
        for module_name, path in MODEL_STEPS:
            _patch(steps, module_name, path)
    stream = answer_module.Assistant.stream

    def timed_stream(self, *args, **kwargs):
        started = time.perf_counter()
        for event in stream(self, *args, **kwargs):
            if isinstance(event, str) and "answer to first token" not in steps:
                steps["answer to first token"] = time.perf_counter() - started
            yield event
        steps["answer to the end"] = time.perf_counter() - started

    answer_module.Assistant.stream = timed_stream
    sys.argv = ["assistant", *argv]
    try:
        runpy.run_module("assistant", run_name="__main__")
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    steps["in process"] = time.perf_counter() - began
    print(MARK + json.dumps({k: round(v, 3) for k, v in steps.items()}), file=sys.stderr)
    return code


def _wall(argv: list[str], env: dict) -> dict:
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    first = process.stdout.read(1)
    first_byte = time.perf_counter() - began if first else None
    process.stdout.read()
    code = process.wait()
    if code != 0:
        raise RuntimeError(f"{argv} exited with {code}")
    return {"first_byte_s": first_byte, "end_s": time.perf_counter() - began}


def _breakdown(argv: list[str], env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "eval.bench.cold_start", "--child", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith(MARK))
    return json.loads(line[len(MARK) :])


def _app_ready(index: Path, work: Path, env: dict) -> float:
    """Seconds from spawning app.py to its "Modelos listos" line."""
    with socket.socket() as sock:  # a free port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    began = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "--index",
            str(index),
            "--deck",
            str(work / f"deck-{time.monotonic_ns()}.sqlite"),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in process.stderr:
            if line.startswith("Modelos listos"):
                return time.perf_counter() - began
            if line.startswith(("error", "aviso: no se pudieron")):
                raise RuntimeError(line.strip())
        raise RuntimeError("the app ended before its models were ready")
    finally:
        process.terminate()
        process.wait(timeout=30)


def bench(runs: int, app: bool, work: Path) -> dict:
    from index.store import build_index

    index = work / "index"
    build_index(ROOT / "corpus" / "notes", index)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    results: dict = {"runs": runs, "question": QUESTION, "commands": {}}
    argvs = {
        name: [*command, "--index", str(index), QUESTION] for name, (command, _) in COMMANDS.items()
    }
    envs = {name: {**env, **extra} for name, (_, extra) in COMMANDS.items()}
    _wall(argvs["ask"], envs["ask"])  # writes the prepared copies if missing; not timed
    walls: dict[str, list[dict]] = {name: [] for name in COMMANDS}
    for _ in range(runs):  # the commands alternate: a load on the machine hits them alike
        for name in COMMANDS:
            walls[name].append(_wall(argvs[name], envs[name]))
    for name, (command, extra) in COMMANDS.items():
        firsts = [w["first_byte_s"] for w in walls[name] if w["first_byte_s"] is not None]
        results["commands"][name] = {
            "argv": ["python", "-m", "assistant", *command, "--index", "INDEX", QUESTION],
            "env": extra,
            "first_byte_s_median": round(statistics.median(firsts), 2) if firsts else None,
            "end_s_median": round(statistics.median(w["end_s"] for w in walls[name]), 2),
            "end_s_runs": [round(w["end_s"], 2) for w in walls[name]],
            "steps": _breakdown(argvs[name], envs[name]),
        }
        print(name, json.dumps(results["commands"][name]), file=sys.stderr, flush=True)
    if app:
        seconds = [_app_ready(index, work, env) for _ in range(runs)]
        results["app_ready_s_median"] = round(statistics.median(seconds), 2)
        results["app_ready_s_runs"] = [round(s, 2) for s in seconds]
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-app", action="store_true", help="skip the app's start")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs debe ser al menos 1")
    with tempfile.TemporaryDirectory() as tmp:
        results = bench(args.runs, not args.no_app, Path(tmp))
    emit(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
