"""The generator contract: a prompt in, streamed text out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from corpus.errors import SettingsError


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings shared by every backend."""

    max_new_tokens: int = 160
    temperature: float = 0.0  # 0 = greedy: answers are reproducible and easiest to check
    top_p: float = 0.95
    repetition_penalty: float = 1.1  # 270M models loop without it
    seed: int = 0
    stop: tuple[str, ...] = ()  # generation ends before the first of these strings
    # Selective abstention: when the first new token would begin ``veto`` (the abstention
    # sentence) with a probability below ``veto_below``, the likeliest other token is
    # taken. Greedy decoding otherwise picks the one first token that a fixed sentence
    # concentrates its mass on, over answers whose mass is spread across many first
    # tokens (docs/RESULTS.md, issue 4). 0 turns it off.
    veto: str = ""
    veto_below: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= 2048:
            raise SettingsError(f"max_new_tokens must be in [1, 2048], got {self.max_new_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise SettingsError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise SettingsError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0.0 <= self.veto_below <= 1.0:
            raise SettingsError(f"veto_below must be in [0, 1], got {self.veto_below}")
        if self.repetition_penalty < 1.0:
            raise SettingsError(f"repetition_penalty must be >= 1, got {self.repetition_penalty}")


class Generator(Protocol):
    """A local language model. ``prompt`` is the full text prompt built by a strategy;
    an instruct model wraps it in its chat template as one user turn, a base model reads
    it as is."""

    name: str  # registry key, e.g. "gemma-270m"
    adapter: str | None  # path of the loaded LoRA adapter, None without one

    def stream(self, prompt: str, config: GenerationConfig) -> Iterator[str]:
        """Yield the new text piece by piece (decoded incrementally), excluding the prompt."""
        ...

    def count_tokens(self, text: str) -> int: ...

    @property
    def context_window(self) -> int:
        """Prompt + new tokens must fit in this many tokens."""
        ...


class NoticeOnce:
    """A generator's remark (``generator.notice``: a served model answers without the
    veto, say) said once per process, however many answers it comes with. Thread-safe:
    the app's browsers share one."""

    def __init__(self) -> None:
        self._said: set[str] = set()
        self._lock = threading.Lock()

    def new(self, assistant) -> str | None:
        """The notice of ``assistant``'s generator if it has not been said yet, else None."""
        notice = getattr(assistant.generator, "notice", None)
        with self._lock:
            if not notice or notice in self._said:
                return None
            self._said.add(notice)
        return notice
