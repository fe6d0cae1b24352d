"""A restricted output vocabulary, measured against the full one (issue 16's first idea).

    python -m eval.bench.vocab [--set dev|heldout] --out docs/results/restricted_vocab_{dev,heldout}.json

Gemma 3's output layer scores 262,144 tokens per step. Here it scores only the tokens that
the answer could plausibly need: every token of the prompt, of the notes folder, of the
abstention sentence, plus the ``--common`` lowest ids (SentencePiece ids run roughly from
frequent to rare pieces). When the restricted softmax gives its top token less than
``--confident`` probability, the step falls back to the full output layer. The experiment
decodes the logged reader prompts of a notes set greedily (the assistant's own settings)
with the full and the restricted layer, side by side per question, and reports the
vocabulary size, the fallback rate, how many answers' tokens changed, and the time.

An experiment, not a shipped engine: it is exact only when the true top token is in the
set, and it was not adopted (docs/RESULTS.md, "Decode speed").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from corpus.files import atomic_write_text
from eval.bench.generation import time_stream, with_drafts
from eval.harness import answer_config, logged_prompts

ROOT = Path(__file__).resolve().parents[2]


class RestrictedHead(torch.nn.Module):
    """Stands in for the int8 lm_head: logits of the allowed ids only, scattered into a
    full-size row of -inf, or the full layer when the restricted choice is unsure."""

    def __init__(self, head, allowed, confident: float) -> None:
        super().__init__()
        self.head, self.confident = head, confident
        self.allowed = torch.tensor(sorted(allowed))
        self.weight = head.weight.index_select(0, self.allowed).contiguous()  # (S, 640) int8
        self.scales = head.scales.index_select(0, self.allowed).contiguous()
        self.steps = self.fallbacks = 0

    def forward(self, hidden):
        flat = hidden.reshape(-1, hidden.shape[-1]).to(torch.bfloat16).contiguous()
        restricted = torch._weight_int8pack_mm(flat, self.weight, self.scales).float()
        self.steps += flat.shape[0]
        top = torch.softmax(restricted, dim=-1).amax(dim=-1)
        if bool((top < self.confident).any()):
            self.fallbacks += flat.shape[0]
            return self.head(hidden)
        full = torch.full((flat.shape[0], self.head.out_features), float("-inf"))
        full[:, self.allowed] = restricted
        return full.reshape(*hidden.shape[:-1], -1)


def base_vocabulary(tokenizer, common: int) -> set[int]:
    from assistant.prompts import ABSTAIN

    notes = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "corpus/notes").rglob("*.md"))
    ids = set(tokenizer(notes + "\n" + ABSTAIN, add_special_tokens=False).input_ids)
    return ids | set(range(common)) | set(tokenizer.all_special_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("dev", "heldout"), default="heldout")
    parser.add_argument("--common", type=int, default=16384)
    parser.add_argument("--confident", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/results/restricted_vocab.json")
    args = parser.parse_args()

    from assistant.generators.adapters import adapter_for
    from assistant.generators.hf import HFGenerator

    prompts = logged_prompts(args.set)
    generator = with_drafts(
        HFGenerator("gemma-270m", adapter=adapter_for("gemma-270m", "default")), 0
    )
    model, full_head = generator.model, generator.model.lm_head
    base = base_vocabulary(generator.tokenizer, args.common)
    config = answer_config()
    sizes, changed, fallback, steps = [], 0, 0, 0
    full_ms, restricted_ms = [], []
    for prompt in prompts:
        ids = generator.encode(prompt)
        head = RestrictedHead(full_head, base | set(ids), args.confident)
        runs = {}
        for name, layer in (("full", full_head), ("restricted", head)):
            model.lm_head = layer
            runs[name] = time_stream(generator.token_steps(ids, config))
        model.lm_head = full_head
        sizes.append(len(head.allowed))
        changed += runs["full"]["tokens"] != runs["restricted"]["tokens"]
        fallback, steps = fallback + head.fallbacks, steps + head.steps
        full_ms.append(runs["full"]["total_s"] * 1000)
        restricted_ms.append(runs["restricted"]["total_s"] * 1000)
    report = {
        "command": "python -m eval.bench.vocab " + " ".join(sys.argv[1:]),
        "set": args.set,
        "questions": len(prompts),
        "engine": "int8w, shipped adapter merged, prompt lookup off, the assistant's decoding",
        "vocabulary": {
            "full": full_head.out_features,
            "restricted_median": statistics.median(sizes),
        },
        "common_ids": args.common,
        "confident": args.confident,
        "fallback_share_of_steps": round(fallback / steps, 3),
        "answers_whose_tokens_changed": changed,
        "total_p50_ms": {
            "full": round(statistics.median(full_ms), 1),
            "restricted": round(statistics.median(restricted_ms), 1),
        },
        "ratio_full_over_restricted_p50": round(
            statistics.median(f / r for f, r in zip(full_ms, restricted_ms)), 2
        ),
    }
    atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
