"""Choose the selector's no-answer threshold with the writer, and compare the writer with
the evidence quoted per question form, on the dev sets.

    python -m eval.tune.no_answer --out docs/results/no_answer.json [--squad-limit 400]
        [--strategy zero-shot] [--selector ranker]

Every dev question (``eval.harness.DEV_SETS``: the notes' training questions, the
water-cycle notes, SQuAD-es dev articles; never a held-out row) is answered twice by the
assistant with the selector's abstention off (``max_no_answer`` 1.0): by the writer
(``--strategy``, Gemma 3 270M + the reader adapter) and by the evidence quoted
(``extractive``). The retrieval gate and the writer's veto stay as shipped. Each row keeps
the selector's no-answer score, so every threshold is then scored without answering again:

- SQuAD v2 overall F1 per set (an answerable row scores its token F1 when answered and 0
  when abstained, an unanswerable one 1 when abstained), for the writer; among the
  thresholds within ``TOLERANCE`` of the best mean over the sets (each set weighs the
  same), the one that abstains least is chosen;
- per question form (a list, a definition, a factoid: how many / who / when / where, any
  other), the writer's and the quotation's token F1 on the answerable rows, to see where
  the writer earns its place.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from assistant.selection.evidence import ANSWER_FORMS, answer_form
from corpus.files import atomic_write_text, file_sha256
from corpus.questions import load_questions
from eval.answers import limit_questions
from eval.harness import DEV_SETS
from eval.metrics import best, token_f1

TOLERANCE = 0.005
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 21))  # 0.05 .. 1.0


@dataclass(frozen=True)
class Row:
    set: str
    id: str
    form: str
    answerable: bool
    no_answer: float | None  # None: the retrieval gate abstained before selecting
    writer_abstained: bool  # the gate or the writer's veto
    writer_f1: float
    quote_f1: float
    total_ms: float | None


def answer_f1(question, answer) -> float:
    if not question.answerable or answer.abstained:
        return 0.0
    return best(token_f1, answer.answer, question.answers)


def answer_rows(name: str, limit: int | None, strategy: str, selector: str) -> list[Row]:
    from tqdm import tqdm

    from assistant.abstain import AbstentionPolicy
    from assistant.answer import Assistant
    from assistant.settings import load_assistant
    from assistant.training.selection.train import notes_train_questions
    from index.store import open_index

    notes, path = DEV_SETS[name]
    index = open_index(notes)[0]
    writer = load_assistant(index, strategy=strategy)
    never = replace(
        writer.config, selector=selector, abstention=AbstentionPolicy(max_no_answer=1.0)
    )  # the threshold is scored later
    # Every form written, to compare the writer with the quotation on each.
    never = replace(
        never,
        evidence=replace(never.evidence, written_forms=ANSWER_FORMS),
    )
    writer = Assistant(index, writer.generator, writer.checker, never)
    quoting = Assistant(
        index, None, writer.checker, replace(never, strategy="extractive"), writer.selector
    )
    questions = notes_train_questions() if name == "notes_train" else load_questions(path)
    rows = []
    for question in tqdm(limit_questions(questions, limit), desc=name, unit="preg"):
        written = writer.answer(question.question, section=question.section)
        quoted = quoting.answer(question.question, section=question.section)
        rows.append(
            Row(
                name,
                question.id,
                answer_form(question.question),
                question.answerable,
                written.no_answer,
                written.abstained,
                round(answer_f1(question, written), 4),
                round(answer_f1(question, quoted), 4),
                written.timings.total_ms,
            )
        )
    return rows


def overall(rows: list[Row], threshold: float) -> dict:
    scores, answerable, unanswerable = [], [], []
    for row in rows:
        abstains = row.writer_abstained or row.no_answer is None or row.no_answer > threshold
        if row.answerable:
            scores.append(0.0 if abstains else row.writer_f1)
            answerable.append(float(abstains))
        else:
            scores.append(float(abstains))
            unanswerable.append(float(abstains))

    def mean(values):
        return round(statistics.mean(values), 4) if values else None

    return {
        "overall_f1": mean(scores),
        "abstain_answerable": mean(answerable),
        "abstain_unanswerable": mean(unanswerable),
    }


def by_form(rows: list[Row]) -> dict:
    table = {}
    for form in ANSWER_FORMS:
        subset = [r for r in rows if r.form == form and r.answerable]
        if subset:
            table[form] = {
                "n": len(subset),
                "writer_f1": round(statistics.mean(r.writer_f1 for r in subset), 4),
                "quote_f1": round(statistics.mean(r.quote_f1 for r in subset), 4),
            }
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--squad-limit", type=int, default=400)
    parser.add_argument("--strategy", default="zero-shot")
    parser.add_argument("--selector", default="blend", help="assistant.selection.SELECTORS")
    args = parser.parse_args(argv)
    from assistant.prompts import parse_strategy

    if not parse_strategy(args.strategy).generates:
        parser.error(f"--strategy must be a writing strategy, got {args.strategy!r}")
    if args.squad_limit < 1:
        parser.error(f"--squad-limit must be >= 1, got {args.squad_limit}")
    rows = []
    for name in DEV_SETS:
        limit = args.squad_limit if "squad" in name else None
        rows += answer_rows(name, limit, args.strategy, args.selector)
    sets = sorted({r.set for r in rows})
    grid = []
    for threshold in THRESHOLDS:
        cells = {name: overall([r for r in rows if r.set == name], threshold) for name in sets}
        grid.append(
            {
                "max_no_answer": threshold,
                "mean_overall_f1": round(
                    statistics.mean(c["overall_f1"] for c in cells.values()), 4
                ),
                "sets": cells,
            }
        )
    # Within TOLERANCE of the best mean (about one question in two hundred: noise), the
    # threshold that abstains least: a student loses more by a refused answerable
    # question than the metric says.
    top = max(g["mean_overall_f1"] for g in grid)
    chosen = max(
        (g for g in grid if g["mean_overall_f1"] >= top - TOLERANCE),
        key=lambda g: g["max_no_answer"],
    )
    report = {
        "chosen": chosen,
        "by_form": {name: by_form([r for r in rows if r.set == name]) for name in sets},
        "grid": grid,
        "rows": [asdict(r) for r in rows],
        "config": {
            "strategy": args.strategy,
            "selector": args.selector,
            "squad_limit": args.squad_limit,
            "sets": {
                n: {"questions": q, "sha256": file_sha256(q)} for n, (_, q) in DEV_SETS.items()
            },
        },
    }
    atomic_write_text(args.out, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    json.dump({"chosen": chosen, "by_form": report["by_form"]}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
