"""Can the local model write study questions? A blind sample to judge by hand (issue 14).

    python -m eval.bench.model_questions [--model gemma-270m] [--adapter none] [--n 40] \
        --out docs/results/model_questions.json

The study cards are made by rules (assistant/study/rules.py). This asks whether the small
chat model could add cards of its own: for ``--n`` passages of the default notes, drawn at
random (seed 14) from those at least 200 characters long, the model writes one question
the passage answers. The passage is shown without its headings (the interview notes'
headings are their questions: with them, the task would be copying). The prompt is
few-shot: two question/answer cards of the notes, outside the sample, as worked examples
(the base model follows a pattern better than an instruction). Greedy decoding, one line.

The output lists each passage, its question and ``"usable": null``: a person fills in
``usable`` (and ``why_not``) by hand, without seeing which rule cards exist for the passage,
and the totals are then counted by ``--count FILE``. Usable = a clear question in Spanish
that the passage answers and that is worth studying.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from corpus.errors import AssistantError
from corpus.files import atomic_write_text, check_output_path

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "corpus" / "notes"
SEED = 14
MIN_CHARS = 200
PASSAGE_CHARS = 700  # what the prompt shows of a passage: the model's window is small
EXAMPLE_FRONTS = ("¿Qué es Transfer Learning?", "¿Qué es la tokenización?")
TEMPLATE = "Texto: {passage}\nPregunta que responde el texto: {question}"


def body(text: str) -> str:
    """The passage without Markdown heading lines, whitespace collapsed, cut for the prompt."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return " ".join(" ".join(lines).split())[:PASSAGE_CHARS]


def sample(chunks, n: int, exclude: set[str]) -> list:
    eligible = [c for c in chunks if len(body(c.text)) >= MIN_CHARS and c.id not in exclude]
    return random.Random(SEED).sample(eligible, min(n, len(eligible)))


def prompt(examples: list[tuple[str, str]], passage: str) -> str:
    shots = [TEMPLATE.format(passage=p, question=q) for p, q in examples]
    return "\n\n".join([*shots, TEMPLATE.format(passage=passage, question="")]).rstrip()


def count(path: Path) -> dict:
    rows = json.loads(path.read_text(encoding="utf-8"))["questions"]
    judged = [r for r in rows if r["usable"] is not None]
    return {
        "judged": len(judged),
        "usable": sum(r["usable"] for r in judged),
        "share": round(sum(r["usable"] for r in judged) / len(judged), 3) if judged else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-270m")
    parser.add_argument("--adapter", default="none", help="none (the base model) or a folder")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--count", type=Path, help="print the totals of a judged file")
    args = parser.parse_args(argv)
    if args.count:
        print(json.dumps(count(args.count)))
        return 0
    try:
        if args.n < 1:
            raise AssistantError(f"--n debe ser al menos 1, no {args.n}")
        if args.out is not None:
            check_output_path(args.out, "--out", {"notas": NOTES})
        from assistant.generators import get_generator
        from assistant.generators.base import GenerationConfig
        from assistant.study.cards import build_cards
        from corpus.chunking import chunk_notes
        from corpus.loader import load_notes

        notes = load_notes(NOTES).notes
        chunks = chunk_notes(notes)
        cards = {c.front: c for c in build_cards(notes)}
        example_cards = [cards[front] for front in EXAMPLE_FRONTS]
        examples = [(body(c.back), c.front) for c in example_cards]
        chosen = sample(chunks, args.n, {c.chunk_id for c in example_cards})
        adapter = None if args.adapter == "none" else args.adapter
        generator = get_generator(args.model, adapter=adapter)
    except AssistantError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    config = GenerationConfig(max_new_tokens=40, stop=("\n",))
    rows = []
    for chunk in chosen:
        passage = body(chunk.text)
        question = generator.generate(prompt(examples, passage), config).strip()
        rows.append(
            {
                "chunk_id": chunk.id,
                "source": chunk.source,
                "passage": passage,
                "question": question,
                "usable": None,
            }
        )
        print(f"{chunk.source}: {question}", file=sys.stderr)
    result = {
        "how": " ".join(__doc__.split("\n\n")[1].split()),
        "model": args.model,
        "adapter": args.adapter,
        "questions": rows,
    }
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
