"""Evidence selectors side by side, with the one-unit ceiling: numbers, not a test.

    python -m eval.bench.selector [--selectors reader,ranker] [--sets notes_dev,...]
        [--limit 300] [--passages 3] [--ranker NAME=FILE] [--cross NAME=FOLDER]
        [--pointer NAME=FOLDER]
        [--out docs/results/selector.json]

Per set and selector, over the set's questions retrieved as the assistant retrieves them
(top 3 passages):

- p_at_1: share of answerable questions whose top unit holds the evidence
  (``corpus.questions.holds_evidence``); ``reachable`` is its ceiling (some unit does);
- mrr: mean reciprocal rank of the first unit holding the evidence (0 when none does);
- top_unit_f1: token F1 when the top unit is the answer, beside ``oracle_f1`` (the best
  single unit, ``eval.oracle``);
- no_answer_auc: ROC AUC of the no-answer score, unanswerable rows against answerable;
- ms_p50: median milliseconds of ``select()`` per question (retrieval excluded; unit
  vectors come from the support checker's cache after the first pass, as in the app).

``notes_dev`` holds the ranker's notes training questions (all but the held-out sections):
its ranker row is in-sample. ``notes_heldout``, ``notes_en`` and ``squad_es_test`` are held
out from every choice.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from assistant.selection import LearnedRanker, QuoterSelector, RankerModel, get_selector
from assistant.selection.ranker import Blend
from corpus.questions import holds_evidence, load_questions
from eval.answers import limit_questions
from eval.harness import emit
from eval.metrics import best, token_f1
from eval.oracle import oracle_row

SETS = {
    "notes_dev": ("corpus/notes", "eval/data/notes_dev.jsonl"),
    # notes_dev without its held-out rows: the ranker's own notes training questions.
    "notes_train": ("corpus/notes", "eval/data/notes_dev.jsonl"),
    "ood_dev": ("eval/data/ood_notes", "eval/data/ood_dev.jsonl"),
    "notes_heldout": ("corpus/notes", "eval/data/notes_heldout.jsonl"),
    "notes_en": ("corpus/notes", "eval/data/notes_en.jsonl"),
    "squad_es_dev": ("eval/data/squad_es/dev/notes", "eval/data/squad_es/dev/questions.jsonl"),
    "squad_es_test": ("eval/data/squad_es/test/notes", "eval/data/squad_es/test/questions.jsonl"),
}


class WithLists:
    """A selector with the main path's list steps around it (``selection.lists``): the
    notes' sections named for a list question added to the passages, the units naming
    the list first. What the assistant actually selects with."""

    def __init__(self, inner, chunks) -> None:
        self.inner, self.chunks, self.name = inner, chunks, f"{inner.name}+lists"

    def select(self, question, hits, query_vector):
        from assistant.selection.lists import prefer_named, sibling_hits

        hits = sibling_hits(self.chunks, hits, question)
        return prefer_named(question, self.inner.select(question, hits, query_vector), hits)


def _base(selector):
    """The model under a selector's wrappers ("+lists", a blend's primary): whose cache
    its calls fill."""
    while hasattr(selector, "inner") or hasattr(selector, "primary"):
        selector = getattr(selector, "inner", None) or selector.primary
    return selector


def _auc(labels: list[int], scores: list[float]) -> float | None:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(labels, scores)), 4) if len(set(labels)) == 2 else None


def bench_set(name: str, selectors: dict, limit: int | None, passages: int = 3) -> dict:
    from assistant.training.selection.train import notes_train_questions
    from index.store import open_index

    notes, path = SETS[name]
    index = open_index(notes)[0]
    rows = notes_train_questions() if name == "notes_train" else load_questions(path)
    questions = limit_questions(rows, limit)
    retrieved = [(q, index.search(q.question, k=passages)) for q in questions]
    oracle = [oracle_row(q, hits) for q, hits in retrieved if q.answerable]
    result = {
        "questions": len(questions),
        "answerable": sum(q.answerable for q in questions),
        "oracle_f1": round(statistics.mean(r.one_unit for r in oracle), 4) if oracle else None,
        "reachable": round(statistics.mean(r.evidence_reachable for r in oracle), 4)
        if oracle
        else None,
        "selectors": {},
    }
    selectors = {
        **selectors,
        **{f"{n}+lists": WithLists(s, index.chunks) for n, s in selectors.items() if n != "quoter"},
    }
    # Warm the checker's unit-vector cache (shared by every selector): timings below are
    # warm. A cross-encoder's or pointer's own cache is not warmed: its first row pays its
    # forwards; the rows after it over the same units (a blend, "+lists") reuse them.
    for selector in selectors.values():
        if not _base(selector).name.startswith(("cross", "pointer")):
            for q, hits in retrieved:
                selector.select(q.question, hits, index.query_vector(q.question))
    for selector_name, selector in selectors.items():
        p1, rr, f1, ms, no_answer, unanswerable = [], [], [], [], [], []
        for q, hits in retrieved:
            vector = index.query_vector(q.question)
            began = time.perf_counter()
            selection = selector.select(q.question, hits, vector)
            ms.append((time.perf_counter() - began) * 1000)
            no_answer.append(selection.no_answer)
            unanswerable.append(int(not q.answerable))
            if not q.answerable:
                continue
            holds = [holds_evidence(u.text, q) for u in selection.units]
            p1.append(float(bool(holds) and holds[0]))
            rr.append(1.0 / (holds.index(True) + 1) if True in holds else 0.0)
            f1.append(best(token_f1, selection.units[0].text, q.answers) if holds else 0.0)
        result["selectors"][selector_name] = {
            "p_at_1": round(float(np.mean(p1)), 4) if p1 else None,
            "mrr": round(float(np.mean(rr)), 4) if rr else None,
            "top_unit_f1": round(float(np.mean(f1)), 4) if f1 else None,
            "no_answer_auc": _auc(unanswerable, no_answer),
            "ms_p50": round(statistics.median(ms), 2),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    from assistant.support import SupportChecker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selectors", default="reader,ranker,blend")
    parser.add_argument(
        "--sets", default="notes_dev,notes_heldout,notes_en,squad_es_dev,squad_es_test"
    )
    parser.add_argument("--limit", type=int, default=300, help="questions per set (SQuAD-es)")
    parser.add_argument("--passages", type=int, default=3, help="passages retrieved (k)")
    parser.add_argument(
        "--ranker",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="another ranker.json to compare, as selector NAME",
    )
    parser.add_argument(
        "--cross",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="another cross-encoder (a cross_train --out folder), as selector NAME",
    )
    parser.add_argument(
        "--pointer",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="a pointer adapter (a pointer_train --out folder), as selector NAME (and"
        " NAME-blend, with the quoter)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not 1 <= args.passages <= 10:
        parser.error(f"--passages must be in [1, 10], got {args.passages}")
    names = [s for s in args.sets.split(",") if s]
    unknown = [s for s in names if s not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {unknown}; choose from {sorted(SETS)}")
    unit_vectors = SupportChecker().unit_vectors
    selectors = {name: get_selector(name, unit_vectors) for name in args.selectors.split(",")}
    for spec in args.ranker:
        name, _, path = spec.partition("=")
        selectors[name] = LearnedRanker(unit_vectors, RankerModel.load(path))
    for spec in args.cross:
        from assistant.selection.cross import CrossEncoderSelector  # torch: on demand

        name, _, folder = spec.partition("=")
        selectors[name] = CrossEncoderSelector(unit_vectors, Path(folder))
    for spec in args.pointer:
        from assistant.selection.pointer import PointerSelector, shared_scorer  # torch

        name, _, folder = spec.partition("=")
        selectors[name] = PointerSelector(unit_vectors, shared_scorer(folder))
        # Blended with the quoter as the cross-encoder's "cross-blend" is (same weight).
        selectors[f"{name}-blend"] = Blend(
            f"{name}-blend", selectors[name], QuoterSelector(unit_vectors), 0.7
        )
    report = {
        "sets": {name: bench_set(name, selectors, args.limit, args.passages) for name in names},
        "config": {
            "selectors": list(selectors),
            "rankers": args.ranker,
            "cross_encoders": args.cross,
            "pointers": args.pointer,
            "limit": args.limit,
            "passages": args.passages,
        },
    }
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
