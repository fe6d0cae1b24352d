"""How the abstention veto's threshold trades answers for abstentions.

    python -m eval.tune.abstain_sweep --questions eval/data/notes_dev.jsonl \
        --out docs/results/abstain_sweep_dev.json

The veto (AbstentionPolicy.veto_below, GenerationConfig.veto_below) acts on one
decision only: when the greedy first token begins the abstention sentence, it stands if the
model gives it at least the threshold, and is replaced by the likeliest other token if not.
Decoding is greedy, so every threshold gives one of two drafts per question: the one with
the veto never applied (``abstain_min_prob=0``) and the one with it always applied (``=1``).
This answers every question both ways (the second only when the first token begins the
abstention), records the first token's probability, and scores each threshold exactly as
``eval answers`` would, without a generation per threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from assistant.abstain import AbstentionPolicy, RetrievalConfidence, retrieval_confidence
from assistant.answer import Answer, Assistant
from assistant.generators.adapters import ADAPTER_HELP
from assistant.prompts import ABSTAIN
from corpus.errors import AssistantError
from corpus.questions import Question, load_questions
from eval.answers import Scored, summarize

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
# With --open-before, the retrieval-confidence gate is swept too (post hoc: it depends on
# retrieval alone, recorded per question).
SIMILARITIES = (0.0, 0.80, 0.82, 0.83, 0.84, 0.845, 0.85)


@dataclass
class Drafts:
    question: Question
    vetoed: Answer  # abstain_min_prob=1: the abstention can never be the first token
    p_abstain: float | None  # P(greedy first token) when it begins the abstention, else None
    natural: Answer  # abstain_min_prob=0; the same as vetoed when p_abstain is None
    confidence: RetrievalConfidence | None = None  # recorded with --open-before

    def at(self, threshold: float, before: AbstentionPolicy | None = None) -> Answer:
        """The answer at this veto threshold; with ``before``, abstained when that policy's
        retrieval gate would have stopped the question before generation."""
        if (
            before is not None
            and self.confidence is not None
            and not before.confident(self.confidence)
        ):
            return replace(
                self.vetoed,
                abstained=True,
                answer=ABSTAIN,
                citations=[],
                sentences=[],
                quoted=False,
            )
        keeps = self.p_abstain is not None and self.p_abstain >= threshold
        return self.natural if keeps else self.vetoed


def first_token_abstains(generator, prompt: str) -> float | None:
    """The probability of the greedy first token if it begins the abstention sentence."""
    import torch

    vetoed = generator.first_token_ids(ABSTAIN)  # the ids the veto itself checks
    with torch.inference_mode():
        logits = (
            generator.model(input_ids=torch.tensor([generator.encode(prompt)]), logits_to_keep=1)
            .logits[0, -1]
            .float()
        )
    probs = torch.softmax(logits, dim=-1)
    top = int(probs.argmax())
    return float(probs[top]) if top in vetoed else None


def answer_both_ways(
    assistant: Assistant,
    questions: list[Question],
    progress: bool = True,
    record_confidence: bool = False,
) -> list[Drafts]:
    from tqdm import tqdm

    always = Assistant(
        assistant.index,
        assistant.generator,
        assistant.checker,
        replace(assistant.config, abstention=replace(assistant.config.abstention, veto_below=1.0)),
    )
    never = Assistant(
        assistant.index,
        assistant.generator,
        assistant.checker,
        replace(assistant.config, abstention=replace(assistant.config.abstention, veto_below=0.0)),
    )
    drafts = []
    for question in tqdm(questions, desc="Respondiendo", unit="preg", disable=not progress):
        vetoed = always.answer(question.question, section=question.section)
        # No prompt: retrieval confidence abstained before any generation.
        p = first_token_abstains(assistant.generator, vetoed.prompt) if vetoed.prompt else None
        natural = (
            never.answer(question.question, section=question.section) if p is not None else vetoed
        )
        confidence = None
        if record_confidence:
            hits = assistant.index.search(vetoed.query, k=assistant.config.passages)
            confidence = retrieval_confidence(assistant.index, vetoed.query, hits)
        drafts.append(Drafts(question, vetoed, p, natural, confidence))
    return drafts


def sweep(drafts: list[Drafts], is_supported, thresholds=THRESHOLDS) -> list[dict]:
    return [
        {
            "abstain_min_prob": t,
            **summarize([Scored(d.question, d.at(t)) for d in drafts], is_supported),
        }
        for t in thresholds
    ]


def sweep_before(
    drafts: list[Drafts],
    is_supported,
    policy: AbstentionPolicy,
    thresholds=THRESHOLDS,
    similarities=SIMILARITIES,
) -> list[dict]:
    """Every (min_similarity, veto threshold) pair, the rest of ``policy`` as shipped."""
    rows = []
    for similarity in similarities:
        before = replace(policy, min_similarity=similarity)
        for t in thresholds:
            rows.append(
                {
                    "min_similarity": similarity,
                    "abstain_min_prob": t,
                    **summarize(
                        [Scored(d.question, d.at(t, before)) for d in drafts], is_supported
                    ),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", required=True)
    parser.add_argument("--notes", default="corpus/notes")
    parser.add_argument("--model", default="gemma-270m")
    parser.add_argument("--adapter", default="default", help=ADAPTER_HELP)
    parser.add_argument("--strategy", default="zero-shot")
    parser.add_argument(
        "--limit", type=int, help="the first N questions (keeping the share of unanswerable ones)"
    )
    parser.add_argument(
        "--open-before",
        action="store_true",
        help="generate for every question and sweep the retrieval gate post hoc",
    )
    parser.add_argument("--out", help="JSON file to write")
    args = parser.parse_args(argv)
    try:
        from assistant.settings import load_assistant
        from eval.answers import limit_questions
        from index.store import open_index

        questions = limit_questions(load_questions(args.questions), args.limit)
        assistant = load_assistant(
            open_index(args.notes)[0],
            model=args.model,
            adapter=args.adapter,
            strategy=args.strategy,
        )
    except AssistantError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    shipped = assistant.config.abstention
    if args.open_before:
        opened = replace(
            shipped,
            min_similarity=0.0,
            min_coverage=0.0,
            min_similarity_other_language=0.0,
            abstain_on_unknown_names=False,
        )
        assistant = Assistant(
            assistant.index,
            assistant.generator,
            assistant.checker,
            replace(assistant.config, abstention=opened),
        )
    drafts = answer_both_ways(assistant, questions, record_confidence=args.open_before)
    rows = sweep(drafts, assistant.checker.supported)
    before_rows = (
        sweep_before(drafts, assistant.checker.supported, shipped) if args.open_before else []
    )
    result = {
        "config": {
            "questions": args.questions,
            "limit": args.limit,
            "notes": args.notes,
            "model": args.model,
            "adapter": assistant.generator.adapter,
            "strategy": args.strategy,
            "precision": assistant.generator.config.precision,
            "assistant": asdict(assistant.config),
        },
        "sweep": rows,
        "sweep_before": before_rows,
        "questions": [
            {
                "id": d.question.id,
                "answerable": d.question.answerable,
                "p_abstain": None if d.p_abstain is None else round(d.p_abstain, 4),
                "confidence": None if d.confidence is None else asdict(d.confidence),
                **{
                    f"{name}_{key}": getattr(answer, key)
                    for name, answer in (("vetoed", d.vetoed), ("natural", d.natural))
                    for key in ("draft", "abstained", "remarks")
                },
            }
            for d in drafts
        ],
    }
    columns = (
        "abstain_min_prob",
        "token_f1",
        "citation_precision",
        "abstain_answerable",
        "abstain_unanswerable",
        "n_answered",
    )
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[c]}" for c in columns))
    for row in before_rows:
        print(" | ".join(f"{row[c]}" for c in ("min_similarity", *columns)))
    if args.out:
        from corpus.files import atomic_write_bytes

        atomic_write_bytes(
            Path(args.out), json.dumps(result, ensure_ascii=False, indent=1).encode("utf-8")
        )
        print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
