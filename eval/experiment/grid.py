"""The prompting experiment: answer a question file under every (strategy, model, seed) and
report each metric's mean and standard error.

    run_experiment("eval/data/notes_dev.jsonl", ["zero-shot", "few-shot:3"],
                   ["gemma-270m", "gemma-270m+lora"], [0, 1, 2], out="runs/experiment")

Files written in ``out``:
- ``cells/<cell>.json``: one per (strategy, model, seed), the per-question scores and the
  cell's config. Written atomically; its existence marks the cell finished, and a re-run
  skips it.
- ``logs/<cell>.jsonl``: every question with its prompt, the raw output and the checked
  answer.
- ``outputs.jsonl``: the output cache (OutputCache).
- ``results.json``: per (strategy, model) pooled over seeds, and per seed, the mean and
  standard error of every metric, plus the run's config; ``report.md`` and the PNG plots
  (eval/experiment/report.py) beside it.

A cell interrupted halfway restarts from its first question and rewrites its log. The
outputs it had generated are in the output cache, so the restart replays them rather than
generating again, and the cell's log and scores come from one uninterrupted pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.generators.adapters import SHIPPED_ADAPTERS  # what "<model>+lora" loads
from assistant.prompts import parse_strategy
from corpus.errors import AssistantError, SettingsError
from corpus.files import atomic_write_bytes, file_sha256
from corpus.questions import Question, load_questions
from eval.answers import (
    METRICS,
    QuestionScores,
    Scored,
    limit_questions,
    score_question,
    summarize_scores,
)
from eval.experiment.stats import (
    STDERR_METHOD,
    aggregate,
    paired_comparisons,
    question_means,
)
from eval.output_cache import CachedGenerator, OutputCache, restore_timings

LORA_SUFFIX = "+lora"
# The headline metric that paired comparisons (strategy against the first) are made on.
PAIRED_METRIC = "token_f1"

# (done, total, cell name); done and total count answers over the whole grid.
Progress = Callable[[int, int, str], None]
# (model, adapter, strategy, seed) -> Assistant
AssistantFactory = Callable[[str, "str | None", str, int], object]


# -- the grid -----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def shown_path(path: str | Path | None) -> str | None:
    """A path as results show it: relative to the repository when inside it (a committed
    grid then reads the same on every machine), else absolute."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return str(resolved)


@dataclass(frozen=True)
class GridModel:
    label: str  # as written on the command line: "gemma-270m+lora"
    name: str  # generator registry key
    adapter: str | None  # adapter folder, None for the base model

    def to_json(self) -> dict:
        # "spec" is the key the committed grids (docs/experiments/) were written with.
        return {"spec": self.label, "name": self.name, "adapter": shown_path(self.adapter)}


def parse_model(spec: str) -> GridModel:
    from assistant.generators import GENERATORS

    name, plus, suffix = spec.strip().partition("+")
    if name not in GENERATORS:
        raise AssistantError(
            f"Modelo desconocido {name!r} en {spec!r}: usa uno de {', '.join(sorted(GENERATORS))}"
            f" (con {LORA_SUFFIX} para el adaptador entrenado: {', '.join(SHIPPED_ADAPTERS)})"
        )
    if not plus:
        return GridModel(name, name, None)
    if "+" + suffix != LORA_SUFFIX or name not in SHIPPED_ADAPTERS:
        raise AssistantError(
            f"Modelo no válido {spec!r}: solo hay adaptador LoRA para "
            f"{', '.join(n + LORA_SUFFIX for n in SHIPPED_ADAPTERS)}"
        )
    return GridModel(name + LORA_SUFFIX, name, str(SHIPPED_ADAPTERS[name]))


def parse_seeds(text: str) -> list[int]:
    """ "0,1,2" -> [0, 1, 2]."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise SettingsError(
            f"semillas no válidas {text!r}: usa enteros >= 0 separados por comas, p. ej. 0,1,2"
        )
    return [int(part) for part in parts]


def split_list(text: str) -> list[str]:
    """ "zero-shot, cot" -> ["zero-shot", "cot"]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _unique(items: Sequence, what: str) -> list:
    if not items:
        raise SettingsError(f"la lista de {what} está vacía")
    if len(set(items)) != len(items):
        raise SettingsError(f"hay {what} repetidos: {', '.join(map(str, items))}")
    return list(items)


@dataclass(frozen=True)
class Cell:
    strategy: str  # canonical name: "cot" is written "cot:1"
    model: GridModel
    seed: int

    @property
    def name(self) -> str:
        return f"{self.strategy.replace(':', '-')}__{self.model.label}__seed{self.seed}"


# -- running ------------------------------------------------------------------------------


def _write_atomic(path: Path, payload: dict) -> None:
    atomic_write_bytes(path, json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8"))


def _run_cell(
    cell: Cell,
    assistant,
    questions: list[Question],
    cache: OutputCache,
    out: Path,
    inputs: dict,
    tick: Callable[[], None],
) -> None:
    generator = CachedGenerator(assistant.generator, cache)
    assistant.generator = generator
    rows = []
    with open(out / "logs" / f"{cell.name}.jsonl", "w", encoding="utf-8") as log:
        for question in questions:
            answer = assistant.answer(question.question, section=question.section)
            replayed = generator.replayed
            generator.replayed = None  # an abstention before generating leaves it unset
            if replayed is not None:
                answer = restore_timings(answer, replayed)
            scores = score_question(Scored(question, answer), assistant.checker.supported)
            rows.append(
                {
                    **asdict(scores),
                    "cached": replayed is not None,
                    "prompt_sha": hashlib.sha256(answer.prompt.encode()).hexdigest()[:16],
                }
            )
            log.write(
                json.dumps(
                    {
                        "cell": cell.name,
                        "question": asdict(question),
                        "cached": replayed is not None,
                        "scores": asdict(scores),
                        "answer": answer.to_json(),
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
            log.flush()
            tick()
    summary = summarize_scores([_question_scores(row) for row in rows])
    _write_atomic(
        out / "cells" / f"{cell.name}.json",
        {
            "cell": cell.name,
            "strategy": cell.strategy,
            "model": cell.model.to_json(),
            "seed": cell.seed,
            "inputs": inputs,
            "config": {
                "model": generator.name,
                "adapter": shown_path(generator.adapter),
                "precision": generator.precision,
                "assistant": asdict(assistant.config),
                "index": asdict(assistant.index.config),
            },
            "outputs": {"generated": generator.generated, "reused": generator.reused},
            "summary": summary,
            "scores": rows,
        },
    )


def notes_fingerprint(notes: str | Path | None, index_dir: str | Path | None) -> str | None:
    """sha256 over the notes' names and contents: what a cell's answers were computed from.
    Not their folder's path, which would refuse the same notes in another clone and accept
    edited notes in the same place. From the index's manifest when only the index is given;
    None when neither is (a test's assistant factory brings its own index)."""
    if notes is not None:
        from corpus.loader import load_notes

        contents = {note.source: note.sha256 for note in load_notes(notes).notes}
    elif index_dir is not None:
        from index.store import NotesIndex

        manifest = NotesIndex.load(index_dir).manifest["notes"]
        contents = {source: note["sha256"] for source, note in manifest.items()}
    else:
        return None
    return hashlib.sha256(json.dumps(contents, sort_keys=True).encode()).hexdigest()


def _load_finished(path: Path, inputs: dict, out: Path) -> dict | None:
    if not path.is_file():
        return None
    finished = json.loads(path.read_text(encoding="utf-8"))
    if finished["inputs"] != inputs:
        raise AssistantError(
            f"{out} tiene resultados de otro experimento (otras preguntas, --limit o notas): "
            "usa otra carpeta --out o borra esa"
        )
    return finished


def _default_factory(notes, index_dir, precision) -> AssistantFactory:
    """Loads the real assistant; the index is opened on the first cell that needs it."""
    from assistant.settings import load_assistant
    from index.store import open_index

    index = None

    def factory(model: str, adapter: str | None, strategy: str, seed: int):
        nonlocal index
        if index is None:
            index = open_index(notes, index_dir)[0]
        return load_assistant(
            index, model=model, adapter=adapter, strategy=strategy, seed=seed, precision=precision
        )

    return factory


def run_experiment(
    questions: str | Path,
    strategies: Sequence[str],
    models: Sequence[str],
    seeds: Sequence[int],
    limit: int | None = None,
    *,
    out: str | Path,
    notes: str | Path | None = None,
    index_dir: str | Path | None = None,
    precision: str | None = None,
    progress: Progress | None = None,
    assistant_factory: AssistantFactory | None = None,
) -> dict:
    """Run every unfinished cell of strategies x models x seeds, then write results.json,
    the plots and report.md in ``out``; return the results.

    ``assistant_factory(model, adapter, strategy, seed)`` builds the assistant of a cell
    (tests hand in fakes); by default the real models over ``index_dir`` / ``notes``.
    """
    strategies = _unique([parse_strategy(s).name for s in strategies], "estrategias")
    specs = [parse_model(m) for m in models]
    _unique([spec.label for spec in specs], "modelos")
    seeds = _unique(list(seeds), "semillas")
    if any(not isinstance(seed, int) or seed < 0 for seed in seeds):
        raise SettingsError(f"las semillas deben ser enteros >= 0, no {list(seeds)}")
    if limit is not None and limit < 1:
        raise SettingsError(f"--limit debe ser al menos 1, no {limit}")
    if assistant_factory is None and notes is None and index_dir is None:
        raise SettingsError("indica la carpeta de notas o la del índice")
    questions_path = Path(questions)
    rows = limit_questions(load_questions(questions_path), limit)
    out = Path(out)
    for folder in (out, out / "cells", out / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    # What a finished cell was computed from; a different run must not reuse it.
    inputs = {
        "questions_sha256": file_sha256(questions_path),
        "limit": limit,
        "question_ids": [q.id for q in rows],
        "notes_sha256": notes_fingerprint(notes, index_dir),
    }
    factory = assistant_factory or _default_factory(notes, index_dir, precision)
    cache = OutputCache(out / "outputs.jsonl")
    # Model outermost: each model is loaded once, and its cells follow one another.
    cells = [Cell(s, m, seed) for m in specs for s in strategies for seed in seeds]
    total, done = len(cells) * len(rows), 0

    def tick(cell: Cell, steps: int = 1) -> None:
        nonlocal done
        done += steps
        if progress:
            progress(done, total, cell.name)

    finished, skipped = {}, 0
    for cell in cells:
        path = out / "cells" / f"{cell.name}.json"
        finished[cell] = _load_finished(path, inputs, out)
        if finished[cell] is None:
            assistant = factory(cell.model.name, cell.model.adapter, cell.strategy, cell.seed)
            _run_cell(cell, assistant, rows, cache, out, inputs, lambda c=cell: tick(c))
            finished[cell] = _load_finished(path, inputs, out)
        else:
            skipped += 1
            tick(cell, len(rows))

    results = _results(
        finished, strategies, specs, seeds, rows, questions_path, inputs, notes, index_dir
    )
    results["run"] = {"cells": len(cells), "skipped": skipped, "ran": len(cells) - skipped}
    _write_atomic(out / "results.json", results)
    from eval.experiment.report import write_report

    results["files"] = {name: shown_path(path) for name, path in write_report(results, out).items()}
    return results


def _results(
    finished: dict[Cell, dict],
    strategies,
    specs,
    seeds,
    rows,
    questions_path,
    inputs,
    notes,
    index_dir,
) -> dict:
    """results.json: the run's config and, per (strategy, model), the aggregated metrics."""
    cells = []
    for spec in specs:
        for strategy in strategies:
            runs = {seed: finished[Cell(strategy, spec, seed)] for seed in seeds}
            by_seed = {
                seed: [_question_scores(row).values() for row in run["scores"]]
                for seed, run in runs.items()
            }
            prompts = {row["id"]: set() for row in runs[seeds[0]]["scores"]}
            for run in runs.values():
                for row in run["scores"]:
                    prompts[row["id"]].add(row["prompt_sha"])
            cells.append(
                {
                    "strategy": strategy,
                    "model": spec.label,
                    "seeds": list(seeds),
                    **aggregate(by_seed),
                    # True: every question got the same prompt under every seed, so greedy
                    # decoding gave the same output and the seed-to-seed spread is zero.
                    "seed_invariant": len(seeds) > 1 and all(len(p) == 1 for p in prompts.values()),
                    "outputs": {
                        key: sum(run["outputs"][key] for run in runs.values())
                        for key in ("generated", "reused")
                    },
                }
            )
    first = next(iter(finished.values()))["config"]
    means = {
        (strategy, spec.label): question_means(
            [finished[Cell(strategy, spec, seed)]["scores"] for seed in seeds], PAIRED_METRIC
        )
        for strategy in strategies
        for spec in specs
    }
    paired = paired_comparisons(means, strategies, [spec.label for spec in specs])
    return {
        "config": {
            "questions": shown_path(questions_path),
            "questions_sha256": inputs["questions_sha256"],
            "limit": inputs["limit"],
            "n_questions": len(rows),
            "n_answerable": sum(q.answerable for q in rows),
            "n_unanswerable": sum(not q.answerable for q in rows),
            "strategies": list(strategies),
            "models": [spec.to_json() for spec in specs],
            "seeds": list(seeds),
            "notes": shown_path(notes),
            "index": shown_path(index_dir),
            "notes_sha256": inputs["notes_sha256"],
            "precision": first["precision"],
            "assistant": {
                k: v for k, v in first["assistant"].items() if k not in ("strategy", "seed")
            },
            "index_config": first["index"],
            "metrics": list(METRICS),
            "stderr": STDERR_METHOD,
        },
        "cells": cells,
        "paired": {"metric": PAIRED_METRIC, **paired},
    }


def _question_scores(row: dict) -> QuestionScores:
    """A QuestionScores back from a cell file's row (which adds cached and prompt_sha)."""
    return QuestionScores(**{name: row[name] for name in QuestionScores.__dataclass_fields__})


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A tqdm bar over the grid's answers, as a ``progress`` callback."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit="resp", disable=not enabled)

    def update(done: int, total: int, cell: str) -> None:
        bar.total = total
        bar.set_description(cell, refresh=False)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
