"""Pick the retrieval gate and the veto threshold from ``abstain_sweep --open-before`` runs
on the dev sets, by one criterion written down before looking at the held-out sets.

    python -m eval.tune.choose_abstention docs/results/sweeps/gate_veto_notes_dev_reader.json \
        docs/results/sweeps/gate_veto_squad_es_dev_reader.json \
        --out docs/results/abstention_choice.json

The criterion is SQuAD v2.0's overall F1 (Rajpurkar et al. 2018): an answerable question
scores its token F1, an unanswerable one scores 1 when the assistant abstains and 0 when it
answers. It rewards answering and abstaining in proportion to how many questions of each
kind a set holds, so no hand-set weight is needed. Each dev set counts once (the mean of
the sets' scores), so the set with more questions does not decide alone. The shipped pair
(``AbstentionPolicy``'s defaults) stays unless another beats it by more than ``MARGIN``:
with 100-200 questions per set one standard error of this mean is about 0.03, and a
threshold moved on noise would only be tuned to these files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.abstain import AbstentionPolicy
from corpus.errors import AssistantError
from corpus.files import atomic_write_text

MARGIN = 0.02  # below one standard error of the mean overall F1 (see the docstring)


def overall_f1(row: dict) -> float:
    """SQuAD v2.0's overall F1 from a sweep row's answerable F1 and abstention shares."""
    answerable = row["n"]  # sweep rows count the answerable questions in ``n``
    unanswerable = row["n_unanswerable"]
    scored = row["token_f1"] * answerable + row["abstain_unanswerable"] * unanswerable
    return scored / (answerable + unanswerable)


def choose(sweeps: dict[str, list[dict]], margin: float = MARGIN) -> dict:
    """The shipped (min_similarity, abstain_min_prob) pair, or the best by mean overall F1
    when it wins by more than ``margin``."""
    keys = None
    table = {}
    for name, rows in sweeps.items():
        by_key = {(r["min_similarity"], r["abstain_min_prob"]): r for r in rows}
        keys = set(by_key) if keys is None else keys & set(by_key)
        table[name] = by_key
    if not keys:
        raise AssistantError("los barridos no comparten ningún par (umbral, veto)")
    scored = []
    for key in sorted(keys):
        per_set = {name: round(overall_f1(table[name][key]), 4) for name in sweeps}
        scored.append(
            {
                "min_similarity": key[0],
                "abstain_min_prob": key[1],
                "mean_overall_f1": round(sum(per_set.values()) / len(per_set), 4),
                "overall_f1": per_set,
                **{
                    f"{name}_{metric}": table[name][key][metric]
                    for name in sweeps
                    for metric in ("token_f1", "abstain_answerable", "abstain_unanswerable")
                },
            }
        )
    best = max(scored, key=lambda row: row["mean_overall_f1"])
    shipped = AbstentionPolicy()
    current = next(
        (
            row
            for row in scored
            if (row["min_similarity"], row["abstain_min_prob"])
            == (shipped.min_similarity, shipped.veto_below)
        ),
        None,
    )
    keep = current is not None and best["mean_overall_f1"] - current["mean_overall_f1"] <= margin
    return {
        "criterion": " ".join(__doc__.split("\n\n")[1].split()),
        "margin": margin,
        "best": best,
        "shipped": current,
        "chosen": current if keep else best,
        "rows": scored,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="abstain_sweep --open-before JSON")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    try:
        sweeps = {}
        for path in args.sweeps:
            data = json.loads(path.read_text(encoding="utf-8"))
            if "sweep_before" not in data:
                raise AssistantError(f"{path}: no es un barrido con --open-before")
            sweeps[path.stem] = data["sweep_before"]
        result = choose(sweeps)
    except (OSError, ValueError, AssistantError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    summary = {k: result[k] for k in ("margin", "best", "shipped", "chosen")}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
