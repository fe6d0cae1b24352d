"""The transformers backend: a dequantized GGUF model run on CPU with a hand-written
decode loop.

Why a manual loop rather than ``generate()`` + ``TextIteratorStreamer``: stop strings are
checked on the decoded text before a piece is yielded (the stop string never reaches the
caller), and no thread is needed. A ``StaticCache`` sized for prompt + answer keeps the
keys and values, so each step feeds one token.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Literal

from assistant.generators.base import GenerationConfig
from assistant.generators.model_cache import get_spec, prepare_model
from assistant.generators.stops import clip_stops
from corpus.errors import AssistantError, SettingsError

Precision = Literal["fp32", "bf16", "int8w", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8w", "int8")
# int8w (int8 weights, bf16 activations; fp32 on a CPU without native bf16,
# ``int8.activation_dtype``): the fastest precision that loses no answer
# quality. It decodes 1.8x faster than bf16 (Gemma 56 vs 31 tok/s, SmolLM2 73 vs 40) and
# on the held-out questions scored within a point of bf16 or above it (Gemma + LoRA 0.336
# vs 0.312, Gemma 0.263 vs 0.270, SmolLM2 0.166 vs 0.161). int8 (activations quantized
# too) is faster still but cost Gemma + LoRA 6.5 points and turned SmolLM2's answers into
# English boilerplate (docs/RESULTS.md, "Precision").
DEFAULT_PRECISION: Precision = "int8w"
# Tokens kept back from the model's nominal window for tokenization differences where the
# prompt meets the chat template (a merge across the boundary can add one token).
WINDOW_MARGIN = 2
# A draft plus the token before it must stay within the int8 decode kernel's row limit.
MAX_DRAFT_TOKENS = 15
LOOKUP_NGRAMS = (3, 2, 1)  # longest match first: a longer context drafts more reliably


@dataclass(frozen=True)
class HFConfig:
    """How the model is loaded; decoding settings live in GenerationConfig."""

    precision: Precision = DEFAULT_PRECISION
    threads: int = 0  # 0 = every core this process may run on
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"  # sdpa: fused attention kernel
    # Prompt-lookup decoding under greedy decoding: up to this many next tokens are drafted
    # from an earlier occurrence of the last n-gram (a grounded answer copies its passages)
    # and checked in one forward pass. The output is greedy decoding's; what changes is the
    # number of passes. 0 turns it off; sampling never uses it.
    draft_tokens: int = 3

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise SettingsError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.threads < 0:
            raise SettingsError(f"threads must be >= 0, got {self.threads}")
        if not 0 <= self.draft_tokens <= MAX_DRAFT_TOKENS:
            raise SettingsError(
                f"draft_tokens must be in [0, {MAX_DRAFT_TOKENS}], got {self.draft_tokens}"
            )
        if self.attn_implementation not in ("sdpa", "eager"):
            raise SettingsError(
                f"attn_implementation must be 'sdpa' or 'eager', got {self.attn_implementation!r}"
            )

    @property
    def thread_count(self) -> int:
        return self.threads or len(os.sched_getaffinity(0))


def quantize_int8(model):
    """Dynamic int8 quantization of every nn.Linear, lm_head included: weights int8 per
    output channel, activations quantized per tensor on the fly.

    Per channel rather than per tensor: as fast here and closer to fp32 (teacher-forced
    top-1 agreement with fp32 on 50 positions, Gemma 0.64 vs 0.58, SmolLM2 0.40 vs 0.32;
    bf16 gives 0.94). The loss comes mostly from quantizing activations in the body
    (Gemma's have large outliers); quantizing only lm_head keeps 0.78 but decodes at
    fp32 speed. torch 2.13 flags this API as moving to torchao, which is not installed
    here; the fbgemm kernels still work and are the fastest option measured.
    """
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # inplace: the default deep-copies the model first (a second fp32 copy in memory).
        return torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True
        )


def quantize_int8_weights(model):
    """Weight-only int8 for every nn.Linear (``generators.int8``)."""
    from assistant.generators.int8 import quantize_int8_weights as quantize

    return quantize(model)


class HFGenerator:
    """One of the registered models (see model_cache.MODEL_SPECS) loaded from its cache."""

    def __init__(
        self, name: str, adapter: str | None = None, config: HFConfig | None = None
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from assistant.generators.adapters import apply_adapter, resolve_adapter
        from assistant.generators.prepared import (
            load_prepared,
            load_tokenizer,
            prepared_file,
            save_prepared,
        )

        self.config = config or HFConfig()
        self.spec = get_spec(name)
        self.name = name
        adapter_folder = resolve_adapter(adapter)  # fails before the slow load
        self.adapter = str(adapter_folder) if adapter_folder else None
        folder = prepare_model(name)

        torch.set_num_threads(self.config.thread_count)
        self.tokenizer = load_tokenizer(folder)
        # The packed model saved by an earlier load (generators.prepared): no fp32 load,
        # no adapter merge, no int8 packing.
        prepared = prepared_file(folder, adapter_folder, self.config.precision)
        model = (
            load_prepared(prepared, folder, self.config.attn_implementation) if prepared else None
        )
        if model is None:
            model = AutoModelForCausalLM.from_pretrained(
                folder,
                dtype=torch.bfloat16
                if self.config.precision in ("bf16", "int8w")
                else torch.float32,
                attn_implementation=self.config.attn_implementation,
                local_files_only=True,
            )
            model.eval()
            if adapter_folder is not None:
                # Merged into the base weights before quantizing: int8 Linear layers cannot
                # carry LoRA branches, and a merged model decodes at base-model speed.
                model = apply_adapter(model, adapter_folder, name)
            if self.config.precision == "int8":
                model = quantize_int8(model)
            elif self.config.precision == "int8w":
                model = quantize_int8_weights(model)
            if prepared:
                save_prepared(model, prepared)
        if self.config.precision == "int8w":
            from assistant.generators.int8 import activation_dtype, compute_in

            if (dtype := activation_dtype()) != torch.bfloat16:  # saved in bf16, run in fp32
                model = compute_in(model, dtype)
        self.model = model
        self._window = int(model.config.max_position_embeddings)
        self._stop_ids = self._end_token_ids()
        self._overhead = len(self.encode(""))

    # -- the Generator contract -----------------------------------------------------------

    @property
    def precision(self) -> str:
        return self.config.precision

    @property
    def context_window(self) -> int:
        """Tokens available to ``count_tokens(prompt) + max_new_tokens``: the model's
        window less what the BOS token / chat template add around every prompt."""
        return self._window - self._overhead - WINDOW_MARGIN

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone (no BOS, no chat template)."""
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def encode(self, prompt: str) -> list[int]:
        """The token ids the model reads for ``prompt``: chat-wrapped for an instruct model,
        after BOS for a base one."""
        if self.spec.chat:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
            return self.tokenizer(text, add_special_tokens=False).input_ids
        return self.tokenizer(prompt).input_ids

    def stream(self, prompt: str, config: GenerationConfig) -> Iterator[str]:
        prompt_ids = self.encode(prompt)
        needed = len(prompt_ids) + config.max_new_tokens
        if needed > self._window:
            raise AssistantError(
                f"El prompt no cabe en {self.name}: {len(prompt_ids)} tokens + "
                f"{config.max_new_tokens} nuevos = {needed} > ventana de {self._window}; "
                "usa menos pasajes o menos tokens nuevos"
            )
        return self._decode(prompt_ids, config)

    def generate(self, prompt: str, config: GenerationConfig) -> str:
        """The whole answer at once (the stream joined)."""
        return "".join(self.stream(prompt, config))

    # -- decoding ---------------------------------------------------------------------------

    def _end_token_ids(self) -> set[int]:
        ends = {self.tokenizer.eos_token_id}
        configured = self.model.generation_config.eos_token_id
        ends.update(configured if isinstance(configured, list) else [configured])
        # The turn-end markers: a chat model ends its answer with them, and a base model
        # that emits one has left the text format anyway.
        for marker in ("<end_of_turn>", "<|im_end|>", "<|endoftext|>"):
            token = self.tokenizer.convert_tokens_to_ids(marker)
            if token is not None and token != self.tokenizer.unk_token_id:
                ends.add(token)
        ends.discard(None)
        return ends

    def token_steps(
        self, prompt_ids: list[int], config: GenerationConfig, ignore_end: bool = False
    ) -> Iterator[int]:
        """The generated token ids one by one (end tokens excluded), KV cache reused.

        Public for the benchmark, which times prefill and decode without text handling
        and with ``ignore_end`` so that exactly ``max_new_tokens`` are timed. Greedy
        decoding drafts tokens by prompt lookup (``HFConfig.draft_tokens``); ``stats``
        counts them (``drafted``, ``accepted``, ``passes``) for the last call.
        """
        import torch

        drafting = self.config.draft_tokens if config.temperature == 0 else 0
        cache = rewindable_cache(
            self.model.config, len(prompt_ids) + config.max_new_tokens + drafting
        )
        rng = torch.Generator().manual_seed(config.seed) if config.temperature > 0 else None
        vetoed = self.first_token_ids(config.veto) if config.veto_below > 0 else set()
        lookup = PromptLookup(prompt_ids)
        self.stats = {"drafted": 0, "accepted": 0, "passes": 0}
        generated: list[int] = []
        step_input = list(prompt_ids)  # prefill, then the last token (+ its draft) per pass
        start = 0  # position of step_input[0]
        draft: list[int] = []
        while True:
            with torch.inference_mode():
                # logits_to_keep: only the positions that choose a token go through
                # lm_head (for Gemma 640 x 262,144: the largest matrix by far).
                output = self.model(
                    input_ids=torch.tensor([step_input]),
                    past_key_values=cache,
                    use_cache=True,
                    cache_position=torch.arange(start, start + len(step_input)),
                    logits_to_keep=len(draft) + 1,
                )
            self.stats["passes"] += 1
            # (len(draft) + 1, vocab); a copy made outside inference mode, because
            # pick_token's repetition penalty edits it in place.
            logits = output.logits[0].to(torch.float32, copy=True)
            for row in range(len(draft) + 1):
                token = pick_token(logits[row], generated, config, rng)
                if not generated and token in vetoed:
                    token = veto_first_token(logits[row], token, vetoed, config, rng)
                if token in self._stop_ids and not ignore_end:
                    return
                generated.append(token)
                lookup.append(token)
                yield token
                if len(generated) == config.max_new_tokens:
                    return
                if row == len(draft) or token != draft[row]:
                    break
                self.stats["accepted"] += 1
            rejected = len(draft) - row  # keys computed for draft tokens not taken
            if rejected:
                for layer in cache.layers:
                    layer.cumulative_length.sub_(rejected)
            start += len(step_input) - rejected
            room = config.max_new_tokens - len(generated) - 1
            draft = lookup.draft(min(drafting, room)) if room > 0 else []
            self.stats["drafted"] += len(draft)
            step_input = [generated[-1], *draft]

    def first_token_ids(self, text: str) -> set[int]:
        """Ids that can begin ``text`` as the first new token: right after the prompt
        ("Respuesta:" + " No") or at the start of a chat turn ("No")."""
        if not text:
            return set()
        return {
            ids[0]
            for variant in (text, " " + text)
            if (ids := self.tokenizer(variant, add_special_tokens=False).input_ids)
        }

    def _decode(self, prompt_ids: list[int], config: GenerationConfig) -> Iterator[str]:
        return clip_stops(self._text_pieces(prompt_ids, config), config.stop)

    def _text_pieces(
        self, prompt_ids: list[int], config: GenerationConfig
    ) -> Generator[str, None, None]:
        """The new text as tokens arrive (the whole answer decoded again each time, so
        that a multi-byte character split across tokens comes out whole)."""
        tokens: list[int] = []
        emitted = 0  # characters already yielded
        for token in self.token_steps(prompt_ids, config):
            tokens.append(token)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                continue  # a character split across tokens: wait for the rest
            if len(text) > emitted:
                yield text[emitted:]
                emitted = len(text)


def rewindable_cache(model_config, length: int):
    """A KV cache preallocated for ``length`` tokens whose every layer can be rewound.

    Static, so no step concatenates the keys and values again (with the dynamic cache that
    was 15% of a decode step's op time; Gemma decoded at 56 against 43 tok/s, with the same
    greedy tokens in fp32). Every layer is a full-length ``StaticLayer``, also Gemma's
    sliding-window ones: transformers' ``StaticSlidingWindowLayer`` rolls its window as it
    goes, so keys written for a rejected draft could not be taken back. A full layer holds
    every position; the sliding-window mask (built from ``cache_position``) still limits
    what those layers attend to, and rewinding is moving the write position back: stale
    keys past it are masked as future positions and overwritten by the next pass.
    """
    from transformers.cache_utils import Cache, StaticLayer

    layers = model_config.get_text_config(decoder=True).num_hidden_layers
    return Cache(layers=[StaticLayer(max_cache_len=length) for _ in range(layers)])


class PromptLookup:
    """Drafts for prompt-lookup decoding: the tokens that followed the latest earlier
    occurrence of the sequence's last n-gram (n = 3, 2, 1, longest found first).

    Hand-written: transformers has prompt lookup only inside ``generate()``, which this
    backend does not use (see the module docstring). An n-gram -> position table, updated
    as tokens arrive, makes each lookup O(1) instead of a scan of the prompt.
    """

    def __init__(self, tokens: list[int]) -> None:
        self.tokens: list[int] = []
        self.follows: dict[tuple[int, ...], int] = {}  # n-gram -> where its successor is
        for token in tokens:
            self.append(token)

    def append(self, token: int) -> None:
        end = len(self.tokens)
        for n in LOOKUP_NGRAMS:
            if end >= n:
                self.follows[tuple(self.tokens[end - n : end])] = end
        self.tokens.append(token)

    def draft(self, count: int) -> list[int]:
        if count <= 0:
            return []
        for n in LOOKUP_NGRAMS:
            found = self.follows.get(tuple(self.tokens[-n:])) if len(self.tokens) >= n else None
            if found is not None:
                return self.tokens[found : found + count]
        return []


def pick_token(logits, generated: list[int], config: GenerationConfig, rng) -> int:
    """Next token from last-position logits (vocab,): greedy at temperature 0, else
    temperature + top-p sampling from ``rng``.

    The repetition penalty (CTRL-style, as in transformers) covers the generated tokens
    only, not the prompt: a grounded answer should reuse the passages' words, and a small
    model's loops are in its own output.
    """
    import torch

    if config.repetition_penalty != 1.0 and generated:
        seen = torch.tensor(sorted(set(generated)))
        scores = logits[seen]
        logits[seen] = torch.where(
            scores > 0, scores / config.repetition_penalty, scores * config.repetition_penalty
        )
    if config.temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / config.temperature, dim=-1)
    if config.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (always at least one token).
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= config.top_p
        sorted_probs[outside] = 0.0
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=rng)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=rng))


def veto_first_token(logits, token: int, vetoed: set[int], config: GenerationConfig, rng) -> int:
    """``token`` if the model gives it at least ``config.veto_below`` probability, else
    the choice among the other tokens (``logits`` (vocab,) from the first step)."""
    import torch

    probability = float(torch.softmax(logits, dim=-1)[token])  # the model's own, at T = 1
    if probability >= config.veto_below:
        return token
    others = logits.clone()
    others[sorted(vetoed)] = float("-inf")
    return pick_token(others, [], config, rng)
