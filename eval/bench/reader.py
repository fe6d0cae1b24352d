"""Answers end to end, every reader side by side: extractive vs the models, on every set.

    python -m eval.bench.reader --out docs/results/reader [--rows R1,R2] [--sets S1,S2]

Rows: ``extractive`` (no model), ``base`` (Gemma 3 270M, zero-shot), ``notes-lora`` (the
first adapter, trained on the notes only), ``reader`` and ``reader-cot`` (the adapter
trained on SQuAD-es + the notes, zero-shot and trained chain of thought).
Sets: the notes dev and held-out files, and the SQuAD-es **test** articles indexed as a
notes folder (``eval/data/squad_es/test``; the first ``--squad-limit`` rows of its shuffled
question file, a random sample keeping its share of unanswerable questions).

Each (row, set) cell is written to ``OUT/cells/<row>__<set>.json`` with its per-question
log beside it, and skipped when already there (the run resumes); ``OUT/summary.json``
gathers them. Latencies are medians over the questions, measured on whatever else the
machine is doing: compare them within one run.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from assistant.answer import AssistantConfig
from corpus.errors import AssistantError
from corpus.files import atomic_write_text, file_sha256
from eval.harness import write_result
from eval.oracle import share_of_ceiling

ADAPTERS = Path("assistant/adapters")


@dataclass(frozen=True)
class Row:
    strategy: str
    model: str = "gemma-270m"
    adapter: str | None = None  # None: the base model

    def adapter_path(self) -> str | None:
        return str(self.folder()) if self.adapter else "none"

    def folder(self) -> Path:
        """A name under assistant/adapters/, or any adapter folder (a checkpoint)."""
        path = Path(self.adapter)
        return path if path.is_absolute() or path.exists() else ADAPTERS / self.adapter


ROWS = {
    "extractive": Row("extractive"),
    "base": Row("zero-shot"),
    "notes-lora": Row("zero-shot", adapter="gemma-270m-notes"),
    "reader": Row("zero-shot", adapter="gemma-270m-reader"),
    "reader-cot": Row("cot:0", adapter="gemma-270m-reader"),
}
SETS = {
    "notes_dev": ("corpus/notes", "eval/data/notes_dev.jsonl", None),
    "notes_heldout": ("corpus/notes", "eval/data/notes_heldout.jsonl", None),
    "squad_es_test": (
        "eval/data/squad_es/test/notes",
        "eval/data/squad_es/test/questions.jsonl",
        "squad",
    ),
    "notes_en": ("corpus/notes", "eval/data/notes_en.jsonl", None),
    # For choosing training settings (checkpoints), never reported as a result.
    "squad_es_dev": (
        "eval/data/squad_es/dev/notes",
        "eval/data/squad_es/dev/questions.jsonl",
        "squad",
    ),
}


def run_cell(
    row_name: str,
    set_name: str,
    out: Path,
    squad_limit: int,
    precision: str | None,
    replay: bool = False,
) -> dict:
    """One (row, set) cell; with ``replay``, the cell's logged drafts are re-scored under
    the current code instead of generated again (see ``LoggedDrafts``)."""
    from eval.answers import run_answer_eval

    row = ROWS[row_name]
    notes, questions, kind = SETS[set_name]
    limit = squad_limit if kind == "squad" else None
    cells = out / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    path = cells / f"{row_name}__{set_name}.json"
    identity = {
        "row": row_name,
        "set": set_name,
        "strategy": row.strategy,
        "model": row.model,
        "adapter": row.adapter,
        "questions_sha256": file_sha256(questions),
        "limit": limit,
        "adapter_sha256": file_sha256(row.folder() / "adapter_model.safetensors")
        if row.adapter
        else None,
        # A cell measured with another evidence selector is not this cell.
        "selector": AssistantConfig().selector,
    }
    log = cells / f"{row_name}__{set_name}.log.jsonl"
    if path.is_file() and not replay:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("identity") == identity:
            return stored
    assistant, finish = None, None
    if replay:
        if not log.is_file():
            raise AssistantError(f"--replay necesita el registro {log}, que no existe")
        assistant, finish = _replaying(row, notes, log, precision)
    # The log is written beside the old one and renamed at the end: a replay reads the
    # old log, and a failed run must leave it whole.
    partial = log.with_suffix(".partial")
    summary = run_answer_eval(
        notes,
        questions,
        strategy=row.strategy,
        model=row.model,
        adapter=row.adapter_path(),
        limit=limit,
        log=str(partial),
        precision=precision,
        assistant=assistant,
        finish=finish,
    )
    partial.replace(log)
    cell = {"identity": identity, "summary": summary}
    if replay:
        cell["replayed"] = True
    atomic_write_text(path, json.dumps(cell, indent=2, ensure_ascii=False) + "\n")
    return cell


def oracle_cell(set_name: str, out: Path, squad_limit: int, k: int = 3) -> dict:
    """The set's one-unit ceiling (eval.oracle) over the same rows the readers answer,
    stored in ``OUT/cells/oracle__<set>.json`` and reused while its identity holds."""
    from eval.oracle import run_oracle

    notes, questions, kind = SETS[set_name]
    limit = squad_limit if kind == "squad" else None
    path = out / "cells" / f"oracle__{set_name}.json"
    identity = {"set": set_name, "questions_sha256": file_sha256(questions), "limit": limit, "k": k}
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("identity") == identity:
            return stored
    report = run_oracle(notes, questions, k=k, limit=limit)
    cell = {"identity": identity, "summary": {k: v for k, v in report.items() if k != "rows"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(cell, indent=2, ensure_ascii=False) + "\n")
    return cell


def _replaying(row: Row, notes: str, log: Path, precision: str | None):
    """The row's assistant with its generator replaying ``log``, and the hook that puts
    back the latencies measured when the drafts were generated."""
    from assistant.settings import load_assistant
    from eval.output_cache import LoggedDrafts
    from index.store import open_index

    assistant = load_assistant(
        open_index(notes)[0],
        model=row.model,
        adapter=row.adapter_path(),
        strategy=row.strategy,
        precision=precision,
    )
    if assistant.generator is None:  # extractive: nothing to replay, the run is the replay
        return assistant, None
    drafts = LoggedDrafts(assistant.generator, log)
    assistant.generator = drafts
    return assistant, drafts.restore_timings


COLUMNS = (
    "token_f1",
    "exact_match",
    "citation_precision",
    "citation_recall",
    "citation_evidence",
    "abstain_answerable",
    "abstain_unanswerable",
    "first_token_ms_p50",
    "total_ms_p50",
    "share_of_ceiling",
    "n",
    "n_unanswerable",
)


def markdown(summary: dict) -> str:
    """summary.json as one Markdown table per set (what docs/RESULTS.md shows)."""
    heads = (
        "token F1",
        "EM",
        "cit. precision",
        "cit. recall",
        "cit. on evidence",
        "abstain answerable",
        "abstain unanswerable",
        "first token p50",
        "total p50",
        "share of ceiling",
    )
    lines = []
    for set_name, rows in summary.items():
        rows = dict(rows)
        ceiling = rows.pop("oracle", None)
        some = next(iter(rows.values()))
        title = f"**{set_name}** ({some['n']} answerable, {some['n_unanswerable']} unanswerable)"
        if ceiling:
            title += (
                f"; one-unit ceiling (eval.oracle) token F1 {ceiling['one_unit_f1']:.3f}, "
                f"two units {ceiling['two_units_f1']:.3f}, "
                f"evidence reachable {ceiling['evidence_reachable']:.3f}"
            )
        lines += [
            title,
            "",
            "| row | " + " | ".join(heads) + " |",
            "|---" * (len(heads) + 1) + "|",
        ]
        for row, values in rows.items():
            cells = []
            for key in COLUMNS[:-2]:
                value = values.get(key)
                if value is None:
                    cells.append("—")
                elif key.endswith("_ms_p50"):
                    cells.append(f"{value / 1000:.2f} s")
                else:
                    cells.append(f"{value:.3f}")
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/results/reader"))
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--sets", default="notes_dev,notes_heldout,squad_es_test")
    parser.add_argument("--squad-limit", type=int, default=300)
    parser.add_argument("--precision", default=None)
    parser.add_argument(
        "--markdown", action="store_true", help="print OUT/summary.json as tables and stop"
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="re-score each cell's logged drafts under the current code, generating nothing",
    )
    parser.add_argument(
        "--extra-row",
        action="append",
        default=[],
        metavar="NAME=STRATEGY@ADAPTER",
        help="an ad-hoc row, e.g. step120=zero-shot@PATH/checkpoints/step-000120",
    )
    args = parser.parse_args(argv)
    for spec in args.extra_row:
        name, _, rest = spec.partition("=")
        strategy, _, adapter = rest.partition("@")
        if not (name and strategy and adapter):
            parser.error(f"--extra-row necesita NOMBRE=ESTRATEGIA@ADAPTADOR, no {spec!r}")
        ROWS[name] = Row(strategy, adapter=adapter)
    if args.markdown:
        print(markdown(json.loads((args.out / "summary.json").read_text(encoding="utf-8"))))
        return 0
    rows, sets = args.rows.split(","), args.sets.split(",")
    unknown = [r for r in rows if r not in ROWS] + [s for s in sets if s not in SETS]
    if unknown:
        parser.error(f"desconocidos: {unknown}; filas {list(ROWS)}, conjuntos {list(SETS)}")
    for row in rows:
        adapter = ROWS[row].adapter
        if adapter and not (ROWS[row].folder() / "adapter_model.safetensors").is_file():
            parser.error(f"la fila {row} necesita el adaptador {ROWS[row].folder()}, que no existe")
    table = {}
    for set_name in sets:
        ceiling = oracle_cell(set_name, args.out, args.squad_limit)["summary"]
        table.setdefault(set_name, {})["oracle"] = {
            k: ceiling[k] for k in ("one_unit_f1", "two_units_f1", "evidence_reachable", "n")
        }
        for row in rows:
            cell = run_cell(
                row, set_name, args.out, args.squad_limit, args.precision, replay=args.replay
            )
            values = {k: cell["summary"].get(k) for k in COLUMNS}
            values["share_of_ceiling"] = share_of_ceiling(
                values["token_f1"], ceiling["one_unit_f1"]
            )
            table[set_name][row] = values
            print(json.dumps({"set": set_name, "row": row, **table[set_name][row]}), flush=True)
    existing = {}
    summary_path = args.out / "summary.json"
    if summary_path.is_file():
        existing = json.loads(summary_path.read_text(encoding="utf-8"))
    for set_name, cells in table.items():
        existing.setdefault(set_name, {}).update(cells)
    write_result(summary_path, existing)
    json.dump(existing, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
