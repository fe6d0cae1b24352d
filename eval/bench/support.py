"""Support-checker benchmark on the labeled sentences of eval/data/support_dev.jsonl.

    python -m eval.bench.support [--out docs/results/support.json] [--latency-runs 7]
        [--candidates hand,learned,cross] [--synthetic-limit 0]

Prints JSON (and writes it to --out):
- ROC AUC of the support score (a row's score = max over its passages), overall and per
  unsupported kind (that kind's rows vs all supported rows), for the full checker and for
  its parts: e5 alone (raw best cosine), word overlap alone, both without the checks, and
  each with the checks;
- the threshold: picked on one half of the rows (sections split in two, seeded) by the best
  F1 of the "not supported" class, then precision/recall/F1 of that class on the other
  half (both directions); and the threshold picked on all rows, which is the default in
  ``SupportConfig``;
- per-answer latency (4 sentences x 5 passages of ~1,000 characters), median of several
  answers: cold (empty caches), disk-warm (a new checker, units on disk) and warm (units in
  memory, new sentences). The load average is recorded: other jobs on the 2 cores slow it;
- ``candidates``: the support scorers side by side (issue 25): ``hand`` (the hand-weighted
  mix above), ``learned`` (``support.learned``) and ``cross`` (``support.cross``). For each,
  on support_dev and on the held-out half of the synthetic pairs (``support.pairs``, SQuAD-es
  train articles never trained on): ROC AUC overall and per unsupported kind, balanced
  accuracy at the scorer's own threshold, and the same read claim by claim
  (``support.claim_spans``, at the checker's ``claim_threshold``); the warm per-answer
  latency (median), the same answers for every candidate; and what reading claims adds
  to an answer's checking, e5 included (``claims_latency``).

The data: 360 Spanish sentences written by hand against 89 sections of corpus/notes (180
supported: verbatim or faithful paraphrases, shortened or reordered as a small model writes
them; 180 not: negation, swapped term, changed number, off-topic, plausible invented
claim), each with the exact chunk text(s) of its section as cut by corpus.chunking, and for
about a third one or two distractor chunks (the best BM25 match among other sections).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from assistant.support import (
    SCORERS,
    SupportChecker,
    SupportConfig,
    claim_spans,
    make_checker,
    passage_units,
    sentence_claims,
)
from eval.harness import emit

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "eval" / "data" / "support_dev.jsonl"
OUT = ROOT / "docs" / "results" / "support.json"
UNSUPPORTED_KINDS = ("negation", "swapped_term", "changed_number", "off_topic", "invented")
SPLIT_SEED = 13


def load_rows(path: Path = DATA) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def row_scores(checker: SupportChecker, rows: list[dict]) -> dict[str, np.ndarray]:
    """Per row, the max over its passages of the full score and of each component."""
    config = checker.config
    ablations = {  # the same checker with one part switched off
        name: SupportChecker(checker.embedder, replace(config, semantic_weight=weight))
        for name, weight in (("e5_plus_checks", 1.0), ("overlap_plus_checks", 0.0))
    }
    names = ["full", "e5_only", "overlap_only", "e5_plus_overlap_no_checks", *ablations]
    variants: dict[str, list[float]] = {name: [] for name in names}
    for row in rows:
        parts = [p for p in checker.parts([row["sentence"]], row["passages"])[0] if p]
        full = checker.scores([row["sentence"]], row["passages"])[0]  # the public path
        variants["full"].append(float(full.max()))
        variants["e5_only"].append(max(p.cosine for p in parts))  # raw: no clipping ties
        variants["overlap_only"].append(max(p.lexical for p in parts))
        variants["e5_plus_overlap_no_checks"].append(
            max(
                config.semantic_weight * p.semantic + (1 - config.semantic_weight) * p.lexical
                for p in parts
            )
        )
        for name, ablation in ablations.items():
            variants[name].append(max(ablation.combine(p) for p in parts))
    return {name: np.array(values) for name, values in variants.items()}


def auc_table(rows: list[dict], scores: np.ndarray) -> dict:
    supported = np.array([row["supported"] for row in rows])
    kinds = np.array([row["kind"] for row in rows])
    table = {"overall": round(float(roc_auc_score(supported, scores)), 4)}
    for kind in UNSUPPORTED_KINDS:
        mask = supported | (kinds == kind)
        table[kind] = round(float(roc_auc_score(supported[mask], scores[mask])), 4)
    return table


def best_threshold(scores: np.ndarray, supported: np.ndarray) -> float:
    """The threshold with the best F1 of "not supported" (score < threshold).

    Candidates are midpoints between consecutive distinct scores, so the threshold does
    not sit on a training row's score.
    """
    values = np.unique(scores)
    candidates = np.concatenate(
        [[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]]
    )
    best, best_f1 = float(candidates[0]), -1.0
    for threshold in candidates:
        f1 = _report(scores, supported, threshold)["f1"]
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


def _report(scores: np.ndarray, supported: np.ndarray, threshold: float) -> dict:
    flagged = scores < threshold
    precision, recall, f1, _ = precision_recall_fscore_support(
        ~supported, flagged, average="binary", zero_division=0
    )
    return {
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "n": len(scores),
    }


def held_out(rows: list[dict], scores: np.ndarray) -> dict:
    """Pick the threshold on one half of the sections, report on the other, both ways."""
    sections = sorted({row["section"] for row in rows})
    random.Random(SPLIT_SEED).shuffle(sections)
    first = set(sections[: len(sections) // 2])
    in_first = np.array([row["section"] in first for row in rows])
    supported = np.array([row["supported"] for row in rows])
    result = {}
    for name, pick, test in (
        ("pick_A_test_B", in_first, ~in_first),
        ("pick_B_test_A", ~in_first, in_first),
    ):
        threshold = best_threshold(scores[pick], supported[pick])
        result[name] = {
            "threshold": round(threshold, 4),
            "test_auc": round(float(roc_auc_score(supported[test], scores[test])), 4),
            "test_not_supported": _report(scores[test], supported[test], threshold),
        }
    return result


def _chunk_texts() -> list[str]:
    from corpus.chunking import chunk_notes
    from corpus.loader import load_notes

    return [chunk.text for chunk in chunk_notes(load_notes(ROOT / "corpus" / "notes").notes)]


def latency(embedder, rows: list[dict], runs: int) -> dict:
    """Per-answer time of scores(4 sentences, 5 passages of ~1,000 characters), in ms."""
    chunks = _chunk_texts()
    long_chunks = sorted(chunks, key=lambda text: abs(len(text) - 1000))[:20]
    rng = random.Random(SPLIT_SEED)
    timings: dict[str, list[float]] = {"cold": [], "disk_warm": [], "warm": []}
    load_before = os.getloadavg()[0]
    for _ in range(runs):
        passages = rng.sample(long_chunks, 5)  # each run starts from an empty cache
        answers = [[row["sentence"] for row in rng.sample(rows, 4)] for _ in range(3)]
        with tempfile.TemporaryDirectory() as scratch:
            for stage, answer in zip(timings, answers):
                if stage != "warm":  # cold: empty disk; disk_warm: units on disk only
                    checker = SupportChecker(embedder, cache_dir=Path(scratch))
                began = time.perf_counter()
                checker.scores(answer, passages)
                timings[stage].append((time.perf_counter() - began) * 1000)
    return {
        "answer_shape": "4 sentences x 5 passages",
        "passage_chars_mean": round(statistics.mean(len(t) for t in long_chunks), 1),
        "units_per_answer_mean": round(  # what a cold answer embeds, besides its sentences
            statistics.mean(len(passage_units(t)) for t in long_chunks) * 5
        ),
        "runs": runs,
        **{
            f"{stage}_ms_median": round(statistics.median(values), 1)
            for stage, values in timings.items()
        },
        **{f"{stage}_ms": [round(v, 1) for v in values] for stage, values in timings.items()},
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after
    }


# -- the candidates (issue 25) -------------------------------------------------------------


class _Memo:
    """An embedder that embeds each text once for the whole run: the candidates share the
    same e5 vectors, so only their scoring differs (and a run takes minutes, not tens)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._seen: dict[str, np.ndarray] = {}

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if todo:
            self._seen.update(zip(todo, np.asarray(self.inner.embed_passages(todo))))
        return np.vstack([self._seen[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


def synthetic_rows(limit: int) -> list[dict]:
    """The held-out half of the synthetic pairs, as support_dev rows."""
    from assistant.training.support.train import cached_pairs

    pairs = cached_pairs()["heldout"]
    if limit:
        pairs = random.Random(SPLIT_SEED).sample(pairs, min(limit, len(pairs)))
    return [
        {
            "sentence": p.sentence,
            "passages": [p.passage],
            "supported": p.supported,
            "kind": p.kind,
            "section": p.group,
        }
        for p in pairs
    ]


def candidate_table(checker: SupportChecker, rows: list[dict]) -> dict:
    """AUC and balanced accuracy of the sentence's score (max over its passages); and the
    same verdict read claim by claim (``claim_spans``): a sentence is supported only when
    every claim is, each claim scored against the passage that supports the sentence best."""
    from sklearn.metrics import balanced_accuracy_score

    scores, claim_verdicts, several = [], [], []
    for r in rows:
        spans = claim_spans(r["sentence"])
        claims = [r["sentence"][a:b] for a, b in spans] if len(spans) > 1 else []
        matrix = checker.scores([r["sentence"], *claims], r["passages"])
        best = int(matrix[0].argmax())
        scores.append(float(matrix[0, best]))
        # Claims at the checker's own claim cut; without one, at its sentence threshold.
        cut = checker.claim_threshold
        claim_verdicts.append(
            all((v >= cut) if cut is not None else checker.supported(v) for v in matrix[1:, best])
        )
        several.append(bool(claims))
    scores, several = np.array(scores), np.array(several)
    supported = np.array([bool(r["supported"]) for r in rows])
    kinds = np.array([r["kind"] for r in rows])
    verdicts = np.array([checker.supported(s) for s in scores])
    claim_verdicts = np.array(claim_verdicts) & verdicts
    table = {
        "auc": round(float(roc_auc_score(supported, scores)), 4),
        "balanced_accuracy": round(float(balanced_accuracy_score(supported, verdicts)), 4),
        "claims": {
            "rows_with_several": int(several.sum()),
            "balanced_accuracy": round(
                float(balanced_accuracy_score(supported, claim_verdicts)), 4
            ),
            # supported rows of several claims that the claim reading flags (wrongly)
            "supported_flagged": round(float((~claim_verdicts[supported & several]).mean()), 4)
            if (supported & several).any()
            else None,
        },
        "auc_by_kind": {},
        "flagged_by_kind": {},  # share of each kind's rows below the threshold
    }
    for kind in sorted(set(kinds.tolist())):
        mask = kinds == kind
        if not supported[mask].any():
            both = supported | mask
            table["auc_by_kind"][kind] = round(
                float(roc_auc_score(supported[both], scores[both])), 4
            )
        table["flagged_by_kind"][kind] = round(float((~verdicts[mask]).mean()), 4)
    return table


def candidate_latency(checkers: dict, rows: list[dict], answers: int) -> dict:
    """Warm per-answer ms (units embedded, sentences new to e5 but memoised across
    candidates, so e5's sentence cost is paid once, before timing), median over answers."""
    chunks = _chunk_texts()
    long_chunks = sorted(chunks, key=lambda text: abs(len(text) - 1000))[:20]
    rng = random.Random(SPLIT_SEED)
    shapes = [
        ([r["sentence"] for r in rng.sample(rows, 4)], rng.sample(long_chunks, 5))
        for _ in range(answers)
    ]
    timings: dict[str, list[float]] = {name: [] for name in checkers}
    for sentences, passages in shapes:
        next(iter(checkers.values())).scores(sentences, passages)  # e5 once, untimed
        for name, checker in checkers.items():
            began = time.perf_counter()
            checker.scores(sentences, passages)
            timings[name].append((time.perf_counter() - began) * 1000)
    return {
        "answer_shape": "4 sentences x 5 passages",
        "answers": answers,
        **{f"{name}_ms_median": round(statistics.median(v), 1) for name, v in timings.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def claims_latency(embedder, runs: int = 9) -> dict:
    """What reading claims adds to checking an answer, e5 included: 2 sentences of two
    claims each against 3 passages, new texts every run (so e5 embeds them), the hand
    checker with and without the claims, alternating; medians in ms."""
    passages = sorted(_chunk_texts(), key=lambda text: abs(len(text) - 1000))[:3]
    templates = [
        "Teacher Forcing acelera el entrenamiento del modelo en el paso {}, y además evita "
        "que los errores se propaguen por la secuencia.",
        "El modelo predice el token original en las posiciones enmascaradas, pero solo en "
        "el {} por ciento de los casos.",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        checker = SupportChecker(embedder, cache_dir=Path(scratch))
        checker.warm(passages)
        timings: dict[str, list[float]] = {"sentences": [], "with_claims": []}
        claims = 0
        for run in range(runs):
            for stage, offset in (("sentences", 0), ("with_claims", 1000)):
                sentences = [t.format(run + offset) for t in templates]
                extra = [c for s in sentences for c in sentence_claims(s)]
                claims = len(extra)
                texts = sentences + (extra if stage == "with_claims" else [])
                began = time.perf_counter()
                checker.scores(texts, passages)
                timings[stage].append((time.perf_counter() - began) * 1000)
    return {
        "shape": f"2 sentences, {claims} claims, 3 passages",
        "runs": runs,
        **{f"{k}_ms_median": round(statistics.median(v), 1) for k, v in timings.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def candidates_report(names: list[str], embedder, rows: list[dict], limit: int) -> dict:
    memo = _Memo(embedder)
    synthetic = synthetic_rows(limit)
    with tempfile.TemporaryDirectory() as scratch:
        checkers = {n: make_checker(n, memo, Path(scratch)) for n in names}
        report = {
            "synthetic_heldout_rows": len(synthetic),
            "support_dev": {n: candidate_table(c, rows) for n, c in checkers.items()},
            "synthetic_heldout": {n: candidate_table(c, synthetic) for n, c in checkers.items()},
            "latency": candidate_latency(checkers, rows, answers=15),
            "claims_latency": claims_latency(embedder),
        }
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--latency-runs", type=int, default=7)
    parser.add_argument("--candidates", default="hand,learned,cross")
    parser.add_argument(
        "--synthetic-limit", type=int, default=0, help="held-out synthetic pairs (0: all)"
    )
    parser.add_argument(
        "--only-candidates", action="store_true", help="skip the hand checker's own report"
    )
    args = parser.parse_args(argv)
    names = [n for n in args.candidates.split(",") if n]
    for name in names:
        if name not in SCORERS:
            parser.error(f"candidato desconocido {name!r}; elige entre {list(SCORERS)}")
    if args.synthetic_limit < 0:
        parser.error("--synthetic-limit debe ser >= 0")

    from index.embedders import get_embedder

    began = time.perf_counter()
    embedder = get_embedder("e5-small")
    embedder.embed_query("carga")  # the first call starts the engine
    load_s = time.perf_counter() - began

    rows = load_rows(args.data)
    if args.only_candidates:
        result = {"candidates": candidates_report(names, embedder, rows, args.synthetic_limit)}
        emit(result, args.out)
        return result
    config = SupportConfig()
    chunks = _chunk_texts()
    with tempfile.TemporaryDirectory() as scratch:
        checker = SupportChecker(embedder, config, cache_dir=Path(scratch))
        began = time.perf_counter()
        checker.warm(chunks)  # the one-off cost of embedding every unit of the notes
        warm_all_s = time.perf_counter() - began
        variants = row_scores(checker, rows)
    supported = np.array([row["supported"] for row in rows])
    full = variants["full"]
    threshold_all = best_threshold(full, supported)
    result = {
        "data": str(args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data),
        "rows": len(rows),
        "supported_rows": int(supported.sum()),
        "kinds": {
            kind: sum(row["kind"] == kind for row in rows)
            for kind in ("verbatim", "paraphrase", *UNSUPPORTED_KINDS)
        },
        "sections": len({row["section"] for row in rows}),
        "config": asdict(config),
        "auc": {name: auc_table(rows, scores) for name, scores in variants.items()},
        "threshold_held_out": held_out(rows, full),
        "threshold_all_rows": round(threshold_all, 4),
        "at_threshold_all_rows": _report(full, supported, threshold_all),
        "at_config_threshold": _report(full, supported, config.threshold),
        # Below the lowest score of any supported row: "surely unsupported" on this set.
        # The assistant withdraws a whole draft only when no sentence reaches it
        # (AbstentionConfig.min_answer_support); single sentences are flagged at threshold.
        "withdraw_threshold": (withdraw := math.floor(float(full[supported].min()) * 100) / 100),
        "at_withdraw_threshold": _report(full, supported, withdraw),
        "mean_score": {
            kind: round(float(full[[r["kind"] == kind for r in rows]].mean()), 4)
            for kind in ("verbatim", "paraphrase", *UNSUPPORTED_KINDS)
        },
        "embedder_load_s": round(load_s, 2),
        "warm_all_chunks": {
            "chunks": len(chunks),
            "units": sum(len(passage_units(c)) for c in chunks),
            "seconds": round(warm_all_s, 1),
        },
        "latency": latency(embedder, rows, args.latency_runs),
    }
    if names:
        result["candidates"] = candidates_report(names, embedder, rows, args.synthetic_limit)
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
