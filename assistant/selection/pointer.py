"""Candidate (a): Gemma 270M + LoRA as a pointer over lettered units.

The chat model's base reads the question and the retrieved passages with every unit
lettered (``A. …``, ``B. …``, under its passage's ``[n] heading``) and writes the letter
of the unit that answers, or ``ninguna``. Each letter (with its leading space) and
``ninguna`` is one Gemma token, so the model's whole choice is the distribution of its
first output token: one forward over the prompt ranks every unit and gives the
no-answer score (its share of that distribution), with no sampling and no parsing of
free text. Units past the 52nd are not shown and rank last.

Trained by ``python -m assistant.training.selection.pointer_train --out FOLDER``; the
adapter in ``pointer/`` beside this file is a copy of ``eval/runs/pointer/model`` (its
training log and summary stay there), so that selector ``pointer`` runs from a clone.
"""

from __future__ import annotations

import string
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.selection.base import Candidate, Selection, UnitVectors
from assistant.selection.features import candidates
from assistant.selection.ranker import _ranked
from corpus.errors import SettingsError
from corpus.records import Hit

MODEL_DIR = Path(__file__).with_name("pointer")
BASE = "gemma-270m"
LETTERS = string.ascii_uppercase + string.ascii_lowercase  # 52 ids, one token each
NONE_WORD = "ninguna"
INSTRUCTION = (
    "¿Qué frase responde a la pregunta? Escribe su letra, o «ninguna» si ninguna responde."
)


def pointer_prompt(question: str, units: list[Candidate]) -> str:
    """The question, then each passage's heading and its lettered units (at most 52)."""
    lines = [f"Pregunta: {question}", "", "Fragmentos:"]
    passage = None
    for letter, unit in zip(LETTERS, units):
        if unit.n != passage:
            lines.append(f"[{unit.n}] {unit.heading}".rstrip())
            passage = unit.n
        lines.append(f"{letter}. {unit.text}")
    lines += ["", INSTRUCTION, "Letra:"]
    return "\n".join(lines)


def pointer_answer(position: int | None) -> str:
    """What the pointer writes after the prompt: the unit's letter or ``ninguna``."""
    return " " + (LETTERS[position] if position is not None else NONE_WORD)


class PointerScorer:
    """(prompt, units shown) -> (P(each unit), P(none)), from the first output token's
    distribution restricted to the letters shown and ``ninguna``. Thread-safe."""

    def __init__(self, folder: Path = MODEL_DIR, precision: str | None = None) -> None:
        """``precision``: "bf16" or "fp32"; None: bf16 where the CPU multiplies it natively."""
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from assistant.generators.model_cache import prepare_model

        if precision is None:
            from index.cpu import float_precision

            precision = float_precision()
        if precision not in ("bf16", "fp32"):
            raise SettingsError(f"precisión del puntero {precision!r}: usa bf16 o fp32")
        if not (folder / "adapter_model.safetensors").is_file():
            raise SettingsError(
                f"No existe el adaptador del puntero en {folder}: entrénalo con "
                "python -m assistant.training.selection.pointer_train"
            )
        base = prepare_model(BASE)
        self.tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            base, dtype=torch.float32, local_files_only=True
        )
        model = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
        if precision == "bf16":
            model = model.to(torch.bfloat16)
        self.model = model.eval()
        self.precision = precision
        self.letter_ids = [self._one_token(" " + c) for c in LETTERS]
        self.none_id = self._one_token(" " + NONE_WORD)
        self._lock = threading.Lock()
        # The last prompts' answers: the list steps and a benchmark's "+lists" rows ask
        # again for the same prompt, and a forward is ~0.3-1 s on this CPU.
        self._recent: OrderedDict[tuple[str, int], tuple[np.ndarray, float]] = OrderedDict()

    def _one_token(self, text: str) -> int:
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        if len(ids) != 1:
            raise SettingsError(f"{text!r} no es un solo token de {BASE}: el puntero no sirve")
        return ids[0]

    def probabilities(self, prompt: str, shown: int) -> tuple[np.ndarray, float]:
        import torch

        key = (prompt, shown)
        with self._lock:
            if key not in self._recent:
                ids = self.tokenizer(prompt, return_tensors="pt").input_ids
                with torch.inference_mode():
                    logits = self.model(input_ids=ids, logits_to_keep=1).logits[0, -1].float()
                chosen = logits[[*self.letter_ids[:shown], self.none_id]]
                probs = torch.softmax(chosen, dim=0).numpy().astype(np.float64)
                self._recent[key] = (probs[:-1], float(probs[-1]))
                if len(self._recent) > 256:
                    self._recent.popitem(last=False)
            self._recent.move_to_end(key)
            units, none = self._recent[key]
            return units.copy(), none


@lru_cache(maxsize=2)
def shared_scorer(folder: str = str(MODEL_DIR)) -> PointerScorer:
    """One merged model per process: the chat, the benchmarks and the tests share it."""
    return PointerScorer(Path(folder))


class PointerSelector:
    """Every unit ranked by the pointer's probability; no-answer is P(``ninguna``)."""

    name = "pointer"

    def __init__(
        self, unit_vectors: UnitVectors | None = None, scorer: PointerScorer | None = None
    ) -> None:
        self.scorer = scorer or shared_scorer()

    def select(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Selection:
        units = candidates(hits)
        if not units:
            return Selection([], 1.0)
        shown = units[: len(LETTERS)]
        probs, none = self.scorer.probabilities(pointer_prompt(question, shown), len(shown))
        scores = np.concatenate([probs, np.zeros(len(units) - len(shown))])
        return Selection(_ranked(units, scores), round(none, 4))
