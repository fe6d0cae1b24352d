"""Mean and standard error of per-question metrics, per seed and pooled over seeds.

Worked example (tests/test_experiment.py): seed 0 scores [1, 0, 1, 1] -> mean 0.75,
sample sd 0.5, stderr 0.5 / sqrt(4) = 0.25; seed 1 scores [0, 0, 1, 0] -> 0.25, 0.25.
Pooled: mean 0.5; variance (3 * 0.25**2 * 4 + 3 * 0.25**2 * 4) / (8 - 2) = 0.25,
stderr sqrt(0.25 / 8) = 0.1768.

Paired comparisons (``paired_comparisons``) take the question as the unit instead: each
question's score is first averaged over seeds, then two strategies (or two models' gains
from a strategy) are compared question by question, so question difficulty cancels out.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from eval.answers import METRICS

STDERR_METHOD = (
    "per seed: sample standard deviation (ddof=1) / sqrt(n) over questions; over seeds: "
    "lm-evaluation-harness pooled_sample_stderr (rows of every seed counted as samples)"
)


@dataclass(frozen=True)
class Estimate:
    mean: float | None  # None when no row is in the metric's subset
    stderr: float | None  # None with fewer than 2 rows
    n: int


def estimate(values: Sequence[float | None]) -> Estimate:
    """Mean and standard error (sample sd with ddof=1, over sqrt(n)) of the rows in the
    metric's subset (None marks a row outside it)."""
    values = [v for v in values if v is not None]
    if not values:
        return Estimate(None, None, 0)
    n = len(values)
    stderr = statistics.stdev(values) / math.sqrt(n) if n >= 2 else None
    return Estimate(statistics.fmean(values), stderr, n)


def pool(estimates: Sequence[Estimate]) -> Estimate:
    """One estimate from several seeds: the size-weighted mean, and the standard error of
    lm-evaluation-harness (EleutherAI/lm-evaluation-harness, lm_eval/api/metrics.py,
    ``pooled_sample_stderr``):

        pooled_var = sum((n_i - 1) * se_i**2 * n_i) / (sum(n_i) - k);  se = sqrt(pooled_var / sum(n_i))

    se_i**2 * n_i is seed i's sample variance, so pooled_var is the within-seed pooled
    variance. Known limit: the seeds reuse the same questions, yet every row counts as a
    sample; for a cell whose outputs do not change with the seed, se is the single seed's
    divided by sqrt(k).
    """
    parts = [e for e in estimates if e.n]
    if not parts:
        return Estimate(None, None, 0)
    total = sum(e.n for e in parts)
    mean = sum(e.mean * e.n for e in parts) / total
    if total - len(parts) < 1:  # one row per seed: no within-seed variance to pool
        return Estimate(mean, None, total)
    # A seed with one row has no stderr and adds (1 - 1) * ... = 0 to the numerator.
    pooled_var = sum((e.n - 1) * (e.stderr or 0.0) ** 2 * e.n for e in parts) / (total - len(parts))
    return Estimate(mean, math.sqrt(pooled_var / total), total)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _as_json(e: Estimate) -> dict:
    return {"mean": _rounded(e.mean), "stderr": _rounded(e.stderr), "n": e.n}


def aggregate(rows_by_seed: dict[int, list[dict[str, float | None]]]) -> dict:
    """Per metric: pooled over seeds (with ``seed_sd``, the sample sd of the seed means),
    and per seed. ``rows_by_seed``: seed -> one QuestionScores.values() dict per question."""
    per_seed = {
        seed: {m: estimate([row[m] for row in rows]) for m in METRICS}
        for seed, rows in rows_by_seed.items()
    }
    pooled = {}
    for metric in METRICS:
        seeds = [per_seed[seed][metric] for seed in rows_by_seed]
        means = [e.mean for e in seeds if e.mean is not None]
        pooled[metric] = {
            **_as_json(pool(seeds)),
            "seed_sd": _rounded(statistics.stdev(means)) if len(means) >= 2 else None,
        }
    return {
        "metrics": pooled,
        "per_seed": {
            str(seed): {m: _as_json(e) for m, e in metrics.items()}
            for seed, metrics in per_seed.items()
        },
    }


def question_means(runs: Sequence[Sequence[dict]], metric: str) -> dict[str, float]:
    """Per question id, the metric's mean over the seeds' rows (rows outside the metric's
    subset skipped). ``runs``: one list of score rows (with ``id``) per seed."""
    values: dict[str, list[float]] = {}
    for rows in runs:
        for row in rows:
            if row[metric] is not None:
                values.setdefault(row["id"], []).append(row[metric])
    return {qid: statistics.fmean(v) for qid, v in values.items()}


def differences(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """a[q] - b[q] for every question both have."""
    return {qid: a[qid] - b[qid] for qid in a if qid in b}


def paired_comparisons(
    means: dict[tuple[str, str], dict[str, float]], strategies: Sequence[str], models: Sequence[str]
) -> dict:
    """Every strategy against the first, per model, paired by question (``deltas``); and for
    every two models, the difference of those gains (``interactions``): does a strategy
    help model A more than model B? ``means``: (strategy, model) -> question_means()."""
    reference, deltas, interactions = strategies[0], [], []
    for strategy in strategies[1:]:
        gains = {
            model: differences(means[strategy, model], means[reference, model]) for model in models
        }
        for model, gain in gains.items():
            deltas.append(
                {"strategy": strategy, "model": model, **_as_json(estimate(list(gain.values())))}
            )
        for a, b in itertools.combinations(models, 2):
            gap = differences(gains[a], gains[b])
            interactions.append(
                {
                    "strategy": strategy,
                    "model_a": a,
                    "model_b": b,
                    **_as_json(estimate(list(gap.values()))),
                }
            )
    return {"reference": reference, "deltas": deltas, "interactions": interactions}
