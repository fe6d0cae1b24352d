"""The experiment grid: aggregation against hand-computed numbers, files, the output cache,
resumption, bad input; and one small run with the real model (slow)."""

from __future__ import annotations

import json
import math
import re
import shutil
import time

import pytest

from assistant.answer import Assistant, AssistantConfig
from assistant.cli.main import main
from corpus.errors import AssistantError
from eval.answers import METRICS
from eval.experiment.grid import SHIPPED_ADAPTERS, parse_model, parse_seeds, run_experiment
from eval.experiment.outputs import draft_shapes, summarize_outputs
from eval.experiment.outputs import main as outputs_main
from eval.experiment.stats import (
    Estimate,
    aggregate,
    estimate,
    paired_comparisons,
    pool,
    question_means,
)
from index.store import NotesIndex, build_index
from tests.conftest import DEV_SET, NOTES, ROOT
from tests.fakes import (
    OverlapChecker,
    OverlapSelector,
    ScriptedGenerator,
    open_policy,
    writes_every_form,
)

# -- aggregation, by hand ---------------------------------------------------------------


def test_estimate_is_the_mean_and_sample_sd_over_sqrt_n():
    # [1, 0, 1, 1]: mean 0.75; deviations .25, -.75, .25, .25 -> sum of squares 0.75;
    # sample variance 0.75 / 3 = 0.25, sd 0.5; stderr 0.5 / sqrt(4) = 0.25.
    assert estimate([1.0, 0.0, 1.0, 1.0]) == Estimate(0.75, 0.25, 4)
    assert estimate([None, 2.0, None]) == Estimate(2.0, None, 1)  # one row: no stderr
    assert estimate([None]) == Estimate(None, None, 0)


@pytest.mark.parametrize(
    "seeds, mean, stderr",
    [
        # Equal sizes: [1, 0, 1, 1] and [0, 0, 1, 0], each stderr 0.25 with n = 4.
        # pooled variance (3 * .25**2 * 4 + 3 * .25**2 * 4) / (8 - 2) = 0.25;
        # stderr sqrt(0.25 / 8) = 0.176777.
        ([[1, 0, 1, 1], [0, 0, 1, 0]], 0.5, math.sqrt(0.25 / 8)),
        # Unequal sizes: [.2, .4, .9] has mean .5, variance (.09 + .01 + .16) / 2 = .13;
        # [.5, .7] has mean .6, variance (.01 + .01) / 1 = .02. Mean (1.5 + 1.2) / 5 = .54;
        # pooled variance (2 * .13 + 1 * .02) / (5 - 2) = .28 / 3; stderr sqrt(.28 / 3 / 5).
        ([[0.2, 0.4, 0.9], [0.5, 0.7]], 0.54, math.sqrt(0.28 / 3 / 5)),
    ],
)
def test_pooling_over_seeds_matches_hand_computed_numbers(seeds, mean, stderr):
    pooled = pool([estimate(values) for values in seeds])
    assert pooled.mean == pytest.approx(mean)
    assert pooled.stderr == pytest.approx(stderr)
    assert pooled.n == sum(map(len, seeds))


def test_pooling_skips_empty_seeds_and_needs_two_rows_somewhere():
    assert pool([Estimate(None, None, 0), Estimate(0.5, 0.1, 4)]).stderr == pytest.approx(0.1)
    assert pool([Estimate(1.0, None, 1), Estimate(0.0, None, 1)]) == Estimate(0.5, None, 2)


def _row(**values):
    return {metric: values.get(metric) for metric in METRICS}


def test_aggregate_uses_each_metrics_subset_and_reports_the_seed_spread():
    # Seed 0: token F1 1 and 0 on two answerable rows, one unanswerable row abstained.
    # Seed 1: token F1 1 and 1, the unanswerable row answered.
    rows = {
        0: [
            _row(token_f1=1.0, abstain_answerable=0.0),
            _row(token_f1=0.0, abstain_answerable=0.0),
            _row(abstain_unanswerable=1.0),
        ],
        1: [
            _row(token_f1=1.0, abstain_answerable=0.0),
            _row(token_f1=1.0, abstain_answerable=0.0),
            _row(abstain_unanswerable=0.0),
        ],
    }
    result = aggregate(rows)
    f1 = result["metrics"]["token_f1"]
    # seed 0: mean .5, sd sqrt(.5), stderr .5; seed 1: mean 1, stderr 0.
    # pooled variance (1 * .25 * 2 + 0) / (4 - 2) = .25; stderr sqrt(.25 / 4) = .25.
    assert (f1["mean"], f1["stderr"], f1["n"]) == (0.75, 0.25, 4)
    assert f1["seed_sd"] == pytest.approx(math.sqrt(0.125), abs=1e-6)  # sd of [.5, 1]
    assert result["per_seed"]["0"]["token_f1"] == {"mean": 0.5, "stderr": 0.5, "n": 2}
    assert result["metrics"]["abstain_unanswerable"]["mean"] == 0.5
    assert result["metrics"]["abstain_unanswerable"]["n"] == 2
    assert result["metrics"]["citation_recall"]["mean"] is None


def test_question_means_average_each_question_over_seeds_within_its_subset():
    seed0 = [
        {"id": "a", "token_f1": 1.0},
        {"id": "b", "token_f1": 0.0},
        {"id": "u", "token_f1": None},
    ]
    seed1 = [
        {"id": "a", "token_f1": 0.5},
        {"id": "b", "token_f1": 0.5},
        {"id": "u", "token_f1": None},
    ]
    assert question_means([seed0, seed1], "token_f1") == {"a": 0.75, "b": 0.25}


def test_paired_comparisons_match_hand_computed_numbers():
    # Three questions. Base: zero-shot .2 .4 .6, few-shot .5 .5 .9 -> gains .3 .1 .3.
    # Instruct: zero-shot .5 .5 .5, few-shot .5 .6 .4 -> gains 0 .1 -.1.
    means = {
        ("zero-shot", "base"): {"a": 0.2, "b": 0.4, "c": 0.6},
        ("few-shot:1", "base"): {"a": 0.5, "b": 0.5, "c": 0.9},
        ("zero-shot", "instruct"): {"a": 0.5, "b": 0.5, "c": 0.5},
        ("few-shot:1", "instruct"): {"a": 0.5, "b": 0.6, "c": 0.4},
    }
    paired = paired_comparisons(means, ["zero-shot", "few-shot:1"], ["base", "instruct"])
    base, instruct = paired["deltas"]
    assert paired["reference"] == "zero-shot" and base["model"] == "base"
    # gains .3 .1 .3: mean 7/30, sample sd sqrt(((.3-.2333)**2 * 2 + (.1-.2333)**2) / 2) = .11547
    assert base["mean"] == pytest.approx(7 / 30, abs=1e-6)
    assert base["stderr"] == pytest.approx(0.11547 / math.sqrt(3), abs=1e-5)
    assert instruct["mean"] == pytest.approx(0.0, abs=1e-6) and instruct["n"] == 3
    assert instruct["stderr"] == pytest.approx(0.1 / math.sqrt(3), abs=1e-6)  # sd of 0 .1 -.1
    (gap,) = paired["interactions"]
    # base gain minus instruct gain, per question: .3 0 .4 -> mean .2333, sd .2082
    assert (gap["model_a"], gap["model_b"], gap["n"]) == ("base", "instruct", 3)
    assert gap["mean"] == pytest.approx(7 / 30, abs=1e-6)
    assert gap["stderr"] == pytest.approx(0.208167 / math.sqrt(3), abs=1e-5)


# -- the grid with fakes ----------------------------------------------------------------


@pytest.fixture
def index(notes_copy, tmp_path, fake_embedder, fake_config) -> NotesIndex:
    build_index(notes_copy, tmp_path / "index", index_config=fake_config)
    return NotesIndex.load(tmp_path / "index")


def first_passage_sentence(prompt: str) -> str:
    """Answers with the first line of the first passage of the question's own block,
    citing it: the output depends on the prompt (and so on retrieval and selection)."""
    block = prompt.rsplit("Pasajes:", 1)[1]
    found = re.search(r"^\[(\d+)\] ", block, flags=re.MULTILINE)
    if not found:
        return "No encuentro esto en tus notas."
    lines = [line for line in block[found.end() :].splitlines()[1:] if line.strip()]
    return f"{lines[0].strip()} [{found.group(1)}]" if lines else "No encuentro esto en tus notas."


class Grid:
    """A factory of fake assistants that remembers what it built."""

    def __init__(self, index: NotesIndex) -> None:
        self.index = index
        self.built: list[tuple[str, str | None, str, int]] = []
        self.generators: list[ScriptedGenerator] = []

    def __call__(self, model, adapter, strategy, seed) -> Assistant:
        generator = ScriptedGenerator(first_passage_sentence, adapter=adapter)
        generator.name = model
        self.built.append((model, adapter, strategy, seed))
        self.generators.append(generator)
        # The default abstention thresholds are tuned for e5, not the fake embedder.
        config = AssistantConfig(
            evidence=writes_every_form(), strategy=strategy, seed=seed, abstention=open_policy()
        )
        return Assistant(
            self.index, generator, OverlapChecker(), config, selector=OverlapSelector()
        )

    @property
    def calls(self) -> int:
        return sum(len(generator.prompts) for generator in self.generators)


GRID = {
    "strategies": ["zero-shot", "few-shot:1"],
    "models": ["gemma-270m", "gemma-270m+lora"],
    "seeds": [0, 1],
    "limit": 6,
}


def run(grid: Grid, out, **overrides):
    return run_experiment(DEV_SET, **{**GRID, **overrides}, out=out, assistant_factory=grid)


def _cell(out, name: str) -> dict:
    return json.loads((out / "cells" / f"{name}.json").read_text())


def test_the_grid_writes_every_file(index, tmp_path):
    out, seen = tmp_path / "exp", []
    results = run_experiment(
        DEV_SET,
        **GRID,
        out=out,
        assistant_factory=Grid(index),
        progress=lambda done, total, cell: seen.append((done, total)),
    )
    names = [
        f"{s}__{m}__seed{seed}"
        for s in ("zero-shot", "few-shot-1")
        for m in GRID["models"]
        for seed in GRID["seeds"]
    ]
    assert sorted(p.stem for p in (out / "cells").glob("*.json")) == sorted(names)
    for name in names:
        log = [
            json.loads(line) for line in (out / "logs" / f"{name}.jsonl").read_text().splitlines()
        ]
        assert len(log) == 6 and all({"question", "answer", "scores"} <= set(r) for r in log)
        assert any(r["answer"]["prompt"] and r["answer"]["draft"] for r in log)
    for name in ("results.json", "report.md", "metrics.png", "latency_f1.png", "outputs.jsonl"):
        assert (out / name).stat().st_size > 0
    stored = json.loads((out / "results.json").read_text())
    assert stored["config"]["seeds"] == [0, 1] and stored["config"]["n_questions"] == 6
    # Paths inside the repository are stored relative to it: a committed grid reads the
    # same on every clone.
    adapter = SHIPPED_ADAPTERS["gemma-270m"].relative_to(ROOT).as_posix()
    assert stored["config"]["models"][1]["adapter"] == adapter
    assert stored["config"]["questions"] == "eval/data/notes_dev.jsonl"
    assert len(stored["cells"]) == 4 and set(stored["cells"][0]["metrics"]) == set(METRICS)
    assert stored["cells"] == results["cells"]
    assert seen[-1] == (8 * 6, 8 * 6)
    report = (out / "report.md").read_text()
    assert "![" in report and "metrics.png" in report and "zero-shot" in report
    assert "Comparaciones emparejadas" in report
    # Paths inside the project read the same on any clone; the notes here are elsewhere.
    assert "Preguntas: `eval/data/notes_dev.jsonl`" in report and "índice: —" in report


def test_paired_deltas_are_recomputed_from_the_cell_files(index, tmp_path):
    out = tmp_path / "exp"
    results = run(Grid(index), out)
    paired = results["paired"]
    assert paired["reference"] == "zero-shot" and paired["metric"] == "token_f1"
    assert [(d["strategy"], d["model"]) for d in paired["deltas"]] == [
        ("few-shot:1", "gemma-270m"),
        ("few-shot:1", "gemma-270m+lora"),
    ]

    def per_question(strategy: str) -> dict[str, float]:
        rows = [
            row
            for seed in (0, 1)
            for row in _cell(out, f"{strategy}__gemma-270m__seed{seed}")["scores"]
            if row["token_f1"] is not None
        ]
        return {
            qid: sum(r["token_f1"] for r in rows if r["id"] == qid)
            / sum(r["id"] == qid for r in rows)
            for qid in {r["id"] for r in rows}
        }

    zero, few = per_question("zero-shot"), per_question("few-shot-1")
    gains = [few[qid] - zero[qid] for qid in zero]
    assert paired["deltas"][0]["n"] == len(gains) > 0
    assert paired["deltas"][0]["mean"] == pytest.approx(sum(gains) / len(gains), abs=1e-6)
    assert paired["interactions"][0]["model_a"] == "gemma-270m"


def test_cell_numbers_are_the_aggregate_of_its_logged_rows(index, tmp_path):
    out = tmp_path / "exp"
    results = run(Grid(index), out)
    cell = next(
        c for c in results["cells"] if c["strategy"] == "few-shot:1" and c["model"] == "gemma-270m"
    )
    values = [
        row["token_f1"]
        for seed in (0, 1)
        for row in _cell(out, f"few-shot-1__gemma-270m__seed{seed}")["scores"]
        if row["answerable"]
    ]
    # results.json rounds to 6 decimals
    assert cell["metrics"]["token_f1"]["mean"] == pytest.approx(sum(values) / len(values), abs=1e-6)
    assert cell["metrics"]["token_f1"]["n"] == len(values)


def test_zero_shot_is_generated_once_and_replayed_for_the_other_seeds(index, tmp_path):
    out, grid = tmp_path / "exp", Grid(index)
    results = run(grid, out, strategies=["zero-shot"], models=["gemma-270m"], seeds=[0, 1, 2])
    first, *others = (_cell(out, f"zero-shot__gemma-270m__seed{s}") for s in (0, 1, 2))
    assert first["outputs"]["generated"] == grid.calls > 0
    for other in others:
        assert other["outputs"] == {"generated": 0, "reused": grid.calls}
        assert [r["token_f1"] for r in other["scores"]] == [r["token_f1"] for r in first["scores"]]
        # A replay keeps the generation time measured when the output was made.
        assert all(r["total_ms"] is not None for r in other["scores"])
    (cell,) = results["cells"]
    assert cell["seed_invariant"] and cell["metrics"]["token_f1"]["seed_sd"] == 0.0
    assert "por construcción" in (out / "report.md").read_text()


def test_few_shot_prompts_change_with_the_seed(index, tmp_path):
    results = run(Grid(index), tmp_path / "exp", strategies=["few-shot:1"], models=["gemma-270m"])
    assert not results["cells"][0]["seed_invariant"]


def test_draft_shapes():
    cot = draft_shapes("- hecho [1]\nRespuesta: Es X. [1]", 12, 160)
    assert cot == {
        "at_token_limit": False,
        "answer_line": True,
        "cites": True,
        "citation_only": False,
        "abstention_sentence": False,
    }
    assert draft_shapes(" [1]", 3, 160)["citation_only"]
    assert draft_shapes("No encuentro esto en tus notas.", 9, 160)["abstention_sentence"]
    cut = draft_shapes("una lista que sigue", 160, 160)
    assert cut["at_token_limit"] and not cut["cites"] and not cut["citation_only"]


def test_output_shapes_are_counted_over_the_generated_drafts(index, tmp_path, capsys):
    out = tmp_path / "exp"
    run(Grid(index), out)
    rows = summarize_outputs(out)
    assert [(r["strategy"], r["model"]) for r in rows] == [
        ("zero-shot", "gemma-270m"),
        ("few-shot:1", "gemma-270m"),
        ("zero-shot", "gemma-270m+lora"),
        ("few-shot:1", "gemma-270m+lora"),
    ]
    drafts = sum(
        1
        for seed in (0, 1)
        for line in (out / "logs" / f"zero-shot__gemma-270m__seed{seed}.jsonl")
        .read_text()
        .splitlines()
        if json.loads(line)["answer"]["draft"]
    )
    assert rows[0]["drafts"] == drafts > 0
    # The fake answers with a passage's first line and cites [1], or writes the abstention.
    assert rows[0]["cites"] + rows[0]["abstention_sentence"] == pytest.approx(1.0)
    assert outputs_main([str(out)]) == 0
    assert json.loads((out / "outputs_summary.json").read_text()) == rows
    assert "| zero-shot | gemma-270m |" in capsys.readouterr().out
    (out / "logs" / "zero-shot__gemma-270m__seed0.jsonl").unlink()
    assert outputs_main([str(out)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_a_rerun_skips_finished_cells_and_generates_nothing(index, tmp_path):
    out = tmp_path / "exp"
    first = run(Grid(index), out)
    again = Grid(index)
    second = run(again, out)
    assert again.built == [] and again.calls == 0
    assert second["run"] == {"cells": 8, "skipped": 8, "ran": 0}
    assert second["cells"] == first["cells"]


def test_an_interrupted_cell_restarts_from_the_output_cache(index, tmp_path):
    out = tmp_path / "exp"
    run(Grid(index), out)
    name = "few-shot-1__gemma-270m+lora__seed1"
    before = _cell(out, name)
    (out / "cells" / f"{name}.json").unlink()  # as if stopped before the cell was written
    again = Grid(index)
    run(again, out)
    assert again.built == [("gemma-270m", str(SHIPPED_ADAPTERS["gemma-270m"]), "few-shot:1", 1)]
    assert again.calls == 0  # every output replayed from outputs.jsonl
    after = _cell(out, name)
    assert [r["token_f1"] for r in after["scores"]] == [r["token_f1"] for r in before["scores"]]
    assert len((out / "logs" / f"{name}.jsonl").read_text().splitlines()) == 6


def test_a_folder_of_another_experiment_is_refused(index, tmp_path):
    out = tmp_path / "exp"
    run(Grid(index), out, strategies=["zero-shot"], models=["gemma-270m"], seeds=[0])
    with pytest.raises(AssistantError, match="otro experimento"):
        run(Grid(index), out, strategies=["zero-shot"], models=["gemma-270m"], seeds=[0], limit=4)


def test_cells_are_tied_to_the_notes_contents_not_their_folder(index, tmp_path):
    out, grid = (
        tmp_path / "exp",
        {"strategies": ["zero-shot"], "models": ["gemma-270m"], "seeds": [0]},
    )
    here, there = tmp_path / "here", tmp_path / "there"
    shutil.copytree(NOTES, here)
    shutil.copytree(NOTES, there)
    run(Grid(index), out, **grid, notes=here)
    moved = Grid(index)  # the same notes elsewhere (another clone): the cells are reused
    assert run(moved, out, **grid, notes=there)["run"]["skipped"] == 1 and moved.calls == 0
    note = there / "teacher_forcing.md"
    note.write_text(note.read_text(encoding="utf-8") + "\nUna frase nueva.\n", encoding="utf-8")
    with pytest.raises(AssistantError, match="otro experimento"):
        run(Grid(index), out, **grid, notes=there)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategies", "zero-shot,magia"], "estrategia desconocida"),
        (["--models", "gpt-5"], "modelo desconocido"),
        (["--models", "smollm2-135m+lora"], "solo hay adaptador"),
        (["--seeds", "0,a"], "semillas no válidas"),
        (["--seeds", "1,1"], "repetid"),
        (["--limit", "0"], "--limit"),
        (["--questions", "no/existe.jsonl"], "no existe el archivo"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, argv, message):
    args = {"--questions": str(DEV_SET), "--out": str(tmp_path / "exp")}
    for flag, value in zip(argv[::2], argv[1::2]):
        args[flag] = value
    assert main(["experiment", *[x for pair in args.items() for x in pair]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0].lower()


def test_model_specs_and_seed_lists():
    assert parse_model("gemma-270m+lora").adapter == str(SHIPPED_ADAPTERS["gemma-270m"])
    assert parse_model("smollm2-135m").adapter is None
    assert parse_seeds(" 0, 1,2 ") == [0, 1, 2]


# -- one small real run -----------------------------------------------------------------


@pytest.mark.slow
def test_a_small_real_run_writes_a_readable_report(tmp_path):
    began = time.perf_counter()
    results = run_experiment(
        DEV_SET,
        ["zero-shot", "few-shot:1"],
        ["gemma-270m"],
        [0],
        limit=2,
        out=tmp_path / "exp",
        notes=NOTES,
        index_dir=tmp_path / "index",
    )
    print(f"small real run: {time.perf_counter() - began:.1f} s")
    out = tmp_path / "exp"
    for name in ("metrics.png", "latency_f1.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "![Métricas" in report and "| zero-shot | gemma-270m |" in report
    assert {c["strategy"] for c in results["cells"]} == {"zero-shot", "few-shot:1"}
    assert results["config"]["precision"] in ("fp32", "bf16", "int8w", "int8")
