"""The experiment's output cache: greedy decoding makes an output a pure function of
(model, adapter, precision, prompt, generation config), so an output is generated once and
replayed wherever the same prompt comes back (zero-shot under every seed, a restarted cell).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from corpus.errors import AssistantError


@lru_cache(maxsize=8)
def _adapter_id(adapter: str | None) -> str | None:
    """The folder and a digest of its weights: a retrained adapter is a new model."""
    if adapter is None:
        return None
    weights = Path(adapter) / "adapter_model.safetensors"
    if not weights.is_file():
        return adapter
    return f"{adapter}@{hashlib.sha256(weights.read_bytes()).hexdigest()[:16]}"


class OutputCache:
    """Model outputs keyed by everything that decides them under greedy decoding: model,
    adapter, precision, prompt and generation config. The seed changes an output only
    through the prompt (the few-shot draw), so zero-shot is generated once per model and
    replayed for the other seeds.

    Append-only JSONL, one output per line; a line cut short by an interruption is skipped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._records: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self._records[record["key"]] = record

    @staticmethod
    def key(generator, prompt: str, config) -> str:
        identity = {
            "model": generator.name,
            "adapter": _adapter_id(generator.adapter),
            "precision": getattr(generator, "precision", None),
            "prompt": prompt,
            "generation": asdict(config),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        return self._records.get(key)

    def put(self, record: dict) -> None:
        self._records[record["key"]] = record
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


class CachedGenerator:
    """A generator that replays an output already in the cache instead of generating it.

    After each ``stream()``, ``replayed`` holds the cache record it replayed (None when it
    generated): its ``first_piece_ms`` and ``generate_ms`` are what the generation took
    when it was made. Sampling (temperature > 0) is never cached.
    """

    def __init__(self, generator, cache: OutputCache) -> None:
        self.generator, self.cache = generator, cache
        self.name, self.adapter = generator.name, generator.adapter
        self.replayed: dict | None = None
        self.generated = self.reused = 0

    @property
    def precision(self) -> str | None:
        return getattr(self.generator, "precision", None)

    @property
    def context_window(self) -> int:
        return self.generator.context_window

    def count_tokens(self, text: str) -> int:
        return self.generator.count_tokens(text)

    def stream(self, prompt: str, config) -> Iterator[str]:
        self.replayed = None
        greedy = config.temperature == 0
        key = OutputCache.key(self.generator, prompt, config)
        record = self.cache.get(key) if greedy else None
        if record is not None:
            self.replayed = record
            self.reused += 1
            if record["text"]:
                yield record["text"]
            return
        began, first, pieces = time.perf_counter(), None, []
        for piece in self.generator.stream(prompt, config):
            if first is None:
                first = (time.perf_counter() - began) * 1000
            pieces.append(piece)
            yield piece
        self.generated += 1
        if greedy:
            self.cache.put(
                {
                    "key": key,
                    "model": self.name,
                    "adapter": self.adapter,
                    "text": "".join(pieces),
                    "first_piece_ms": None if first is None else round(first, 1),
                    "generate_ms": round((time.perf_counter() - began) * 1000, 1),
                }
            )


def restore_timings(answer, record: dict):
    """The answer with the generation time measured when the output was made added back: a
    replay takes ~0 ms, and latency must describe the model rather than the cache
    (retrieval and checks are re-timed)."""
    from dataclasses import replace

    t = answer.timings
    first = t.first_token_ms
    if first is not None and record["first_piece_ms"] is not None:
        first = round(first + record["first_piece_ms"], 1)
    total = round(t.total_ms + record["generate_ms"], 1)
    return replace(answer, timings=replace(t, first_token_ms=first, total_ms=total))


class LoggedDrafts:
    """A generator that replays the drafts of an earlier run's answer log, keyed by prompt.

    Greedy decoding makes a draft a function of its prompt, so re-running the main path
    over logged drafts re-scores them under the current grounding and abstention code
    without generating again. A prompt the log lacks means the inputs changed (retrieval,
    prompt template): that raises instead of generating, so a replay never mixes runs.
    Everything else (tokenizer, context window, name) is the wrapped generator's.
    """

    def __init__(self, generator, log_path: Path) -> None:
        self.generator = generator
        self.drafts: dict[str, str] = {}
        self.timings: dict[str, dict] = {}  # question id -> the logged timings
        for line in Path(log_path).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            answer = record["answer"]
            if answer.get("prompt"):
                self.drafts[answer["prompt"]] = answer["draft"]
            self.timings[record["question"]["id"]] = answer["timings"]

    def __getattr__(self, name):
        return getattr(self.generator, name)

    def stream(self, prompt: str, config) -> Iterator[str]:
        if prompt not in self.drafts:
            raise AssistantError(
                "la repetición no encuentra este prompt en el registro: las entradas cambiaron"
            )
        if self.drafts[prompt]:
            yield self.drafts[prompt]

    def restore_timings(self, question, answer):
        """The answer with the latencies measured when its draft was generated."""
        from dataclasses import replace

        logged = self.timings.get(question.id)
        if logged is None or answer.timings.first_token_ms is None:
            return answer  # abstained before generation: its own timing is the real one
        return replace(
            answer,
            timings=replace(
                answer.timings,
                first_token_ms=logged["first_token_ms"],
                total_ms=logged["total_ms"],
                new_tokens=logged["new_tokens"],
            ),
        )
