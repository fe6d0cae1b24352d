"""The packed chat model saved once and loaded back (generators.prepared): the same
logits, a damaged file never used, a key that changes with what the bytes depend on."""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from assistant.generators.int8 import Int8TiedEmbedding, quantize_int8_weights
from assistant.generators.prepared import (
    load_prepared,
    load_tokenizer,
    prepared_file,
    save_prepared,
)


@pytest.fixture
def model_folder(tmp_path):
    """A tiny Gemma 3 saved as the model cache saves one (plus its source.json)."""
    torch.manual_seed(0)
    config = transformers.Gemma3TextConfig(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=128,
    )
    config.architectures = ["Gemma3ForCausalLM"]
    folder = tmp_path / "models" / "tiny-gemma"
    transformers.Gemma3ForCausalLM(config).save_pretrained(folder)
    (folder / "source.json").write_text(json.dumps({"name": "tiny"}), encoding="utf-8")
    return folder


def _packed(folder):
    model = transformers.Gemma3ForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    return quantize_int8_weights(model)


def _logits(model):
    with torch.inference_mode():
        return model(torch.tensor([[2, 17, 45, 99, 3]])).logits.float()


def test_a_saved_packed_model_loads_back_with_the_same_logits(model_folder):
    packed = _packed(model_folder)
    path = prepared_file(model_folder, None, "int8w")
    assert path.parent == model_folder.parent / "prepared" and not path.exists()
    save_prepared(packed, path)
    assert path.is_file() and not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
    loaded = load_prepared(path, model_folder, "sdpa")
    assert loaded is not None and not loaded.training
    assert torch.equal(_logits(loaded), _logits(packed))
    # Tied: one int8 copy of the vocabulary serves lm_head and the input embedding.
    assert isinstance(loaded.get_input_embeddings(), Int8TiedEmbedding)
    assert loaded.get_input_embeddings().head is loaded.get_output_embeddings()
    assert not any(name.endswith("embed_tokens.weight") for name in loaded.state_dict())
    assert loaded.generation_config.eos_token_id == packed.generation_config.eos_token_id


def test_a_damaged_prepared_file_is_deleted_and_not_used(model_folder):
    path = prepared_file(model_folder, None, "int8w")
    save_prepared(_packed(model_folder), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a killed copy
    assert load_prepared(path, model_folder, "sdpa") is None
    assert not path.exists()  # the next slow load writes it again


def test_the_key_follows_the_adapter_the_source_and_the_precision(model_folder, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"pesos 1")
    base = prepared_file(model_folder, None, "int8w")
    with_adapter = prepared_file(model_folder, adapter, "int8w")
    (adapter / "adapter_model.safetensors").write_bytes(b"pesos 2")  # retrained
    retrained = prepared_file(model_folder, adapter, "int8w")
    (model_folder / "source.json").write_text('{"name": "tiny", "v": 2}', encoding="utf-8")
    new_source = prepared_file(model_folder, None, "int8w")
    assert len({base, with_adapter, retrained, new_source}) == 4
    assert prepared_file(model_folder, None, "bf16") is None  # only int8w is cached


@pytest.fixture
def tokenizer_folder(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {word: i for i, word in enumerate(["<unk>", "<bos>", "hola", "mundo", "notas"])}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    folder = tmp_path / "models" / "tiny"
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", bos_token="<bos>"
    ).save_pretrained(folder)
    return folder


def test_the_tokenizer_is_pickled_once_then_loaded_from_the_copy(tokenizer_folder):
    first = load_tokenizer(tokenizer_folder)
    (copy,) = (tokenizer_folder.parent / "prepared").glob("*.pkl")
    written = copy.stat().st_mtime_ns
    second = load_tokenizer(tokenizer_folder)
    assert copy.stat().st_mtime_ns == written  # read, not written again
    assert second("hola notas mundo").input_ids == first("hola notas mundo").input_ids == [2, 4, 3]

    copy.write_bytes(b"no es un pickle")  # damaged: deleted, rebuilt, still right
    assert load_tokenizer(tokenizer_folder)("hola").input_ids == [2]
    (rebuilt,) = (tokenizer_folder.parent / "prepared").glob("*.pkl")
    assert rebuilt.read_bytes() != b"no es un pickle"


@pytest.mark.slow
def test_gemmas_tokenizer_drops_its_python_vocabulary_and_still_encodes():
    from assistant.generators.model_cache import prepare_model

    folder = prepare_model("gemma-270m")
    reference = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert len(reference._vocab) > 200_000  # what _lean drops: transformers' own copy
    for _ in range(2):  # built and pickled, then read from the copy
        tokenizer = load_tokenizer(folder)
        assert tokenizer._vocab == {} and tokenizer._merges == []
        text = "¿Qué es LoRA? Adapta matrices de bajo rango 😀"
        assert tokenizer(text).input_ids == reference(text).input_ids
        ids = reference(text).input_ids
        assert tokenizer.decode(ids) == reference.decode(ids)


def test_an_int8w_model_computes_in_fp32_with_the_logits_of_its_fp32_reference(model_folder):
    """On a CPU without native bf16 the int8w model runs in fp32 (``compute_in``): every
    tensor fp32 but the int8 layers' bf16 scales, and its logits those of the same int8
    weights dequantized into an fp32 model, for a prompt (the prefill GEMM) and for one
    token (the int8 kernel)."""
    from assistant.generators.int8 import Int8WeightLinear, compute_in

    packed = compute_in(_packed(model_folder), torch.float32)
    reference = transformers.Gemma3ForCausalLM.from_pretrained(model_folder).eval()
    for name, module in packed.named_modules():  # the same int8 weights, as fp32
        if isinstance(module, Int8WeightLinear):
            target = reference.get_submodule(name)
            target.weight.data = module.weight.float() * module.scales.float()[:, None]
            assert module.scales.dtype == torch.bfloat16
    reference.get_input_embeddings().weight = reference.get_output_embeddings().weight
    float_tensors = [t for t in packed.state_dict().values() if t.is_floating_point()]
    assert {t.dtype for t in float_tensors} == {torch.float32, torch.bfloat16}
    assert packed.get_input_embeddings().dtype == torch.float32
    for ids in ([[2, 17, 45, 99, 3] * 5], [[17]]):  # 25 rows: prefill; 1 row: the kernel
        with torch.inference_mode():
            ours = packed(torch.tensor(ids)).logits
            theirs = reference(torch.tensor(ids)).logits
        assert ours.dtype == torch.float32
        # The int8 kernel reads bf16 rows: close, not equal; bf16 logits differ by ~1e-2.
        assert torch.allclose(ours, theirs, atol=2e-2, rtol=0), (ours - theirs).abs().max()
        assert torch.equal(ours.argmax(-1), theirs.argmax(-1))


def test_compute_in_fp32_and_back_is_the_model_as_loaded(model_folder):
    from assistant.generators.int8 import compute_in

    packed = _packed(model_folder)
    before = {name: t.clone() for name, t in packed.state_dict(keep_vars=False).items()}
    buffers = {name: b.dtype for name, b in packed.named_buffers()}
    compute_in(compute_in(packed, torch.float32), torch.bfloat16)
    after = packed.state_dict()
    assert before.keys() == after.keys()
    assert all(
        torch.equal(before[n], after[n]) and before[n].dtype == after[n].dtype for n in before
    )
    assert {name: b.dtype for name, b in packed.named_buffers()} == buffers
