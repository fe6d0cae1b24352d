"""export-gguf: the merged model written as GGUF, read back with the gguf package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.cli.main import main
from assistant.training.gguf_export import check_export_options, export_gguf, hf_name, is_norm
from corpus.errors import SettingsError


@pytest.mark.parametrize(
    "gguf_name, expected",
    [
        ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
        ("blk.17.ffn_down.weight", "model.layers.17.mlp.down_proj.weight"),
        ("blk.3.attn_k_norm.weight", "model.layers.3.self_attn.k_norm.weight"),
        ("blk.3.post_ffw_norm.weight", "model.layers.3.post_feedforward_layernorm.weight"),
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
    ],
)
def test_tensor_names_map_to_transformers(gguf_name, expected):
    assert hf_name(gguf_name) == expected


def test_only_norms_are_shifted():
    assert is_norm("blk.0.attn_norm.weight") and is_norm("output_norm.weight")
    assert not is_norm("blk.0.attn_q.weight") and not is_norm("token_embd.weight")


@pytest.mark.parametrize(
    "name, gguf_type, message",
    [
        ("model.bin", "f16", "terminar en .gguf"),
        ("model.gguf", "q4_k", "--type"),
        ("missing/model.gguf", "f16", "No existe la carpeta"),
    ],
)
def test_bad_options_fail_before_any_work(tmp_path, name, gguf_type, message):
    with pytest.raises(SettingsError, match=message):
        check_export_options(tmp_path / name, gguf_type)


def test_cli_refuses_a_folder_as_output(tmp_path, capsys):
    folder = tmp_path / "out.gguf"
    folder.mkdir()
    assert main(["export-gguf", "--out", str(folder)]) == 2
    assert "es una carpeta" in capsys.readouterr().err


def test_cli_refuses_a_missing_adapter_without_writing(tmp_path, capsys):
    out = tmp_path / "model.gguf"
    assert main(["export-gguf", "--out", str(out), "--adapter", str(tmp_path / "nope")]) == 2
    assert "No existe el adaptador" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The default adapter merged at f16, the source GGUF, and our merged weights."""
    import gguf

    from assistant.generators.adapters import adapter_for
    from assistant.generators.model_cache import gguf_path
    from assistant.training.gguf_export import merged_state

    folder = tmp_path_factory.mktemp("export")
    out = export_gguf(folder / "reader.gguf", "default", "f16")
    source = gguf_path("gemma-270m", folder / "source")
    weights = merged_state(adapter_for("gemma-270m", "default"))
    return gguf.GGUFReader(str(out)), gguf.GGUFReader(str(source)), weights, folder


def _tensors(reader) -> dict:
    return {tensor.name: tensor for tensor in reader.tensors}


@pytest.mark.slow
def test_export_keeps_every_tensor_and_key_of_the_source(exported):
    written, source, _, _ = exported
    ours, theirs = _tensors(written), _tensors(source)
    assert ours.keys() == theirs.keys()
    assert all(ours[n].shape.tolist() == theirs[n].shape.tolist() for n in ours)
    for key in ("gemma3.block_count", "tokenizer.ggml.tokens", "gemma3.rope.freq_base"):
        assert written.fields[key].contents() == source.fields[key].contents()
    assert written.fields["general.architecture"].contents() == "gemma3"
    assert written.fields["study_assistant.adapter"].contents() == "gemma-270m-reader"


@pytest.mark.slow
def test_export_holds_the_merged_weights_in_gguf_conventions(exported):
    import gguf

    written, source, weights, _ = exported
    ours, theirs = _tensors(written), _tensors(source)
    # A merged projection: our weight, in f16, not the base model's.
    q = gguf.quants.dequantize(
        ours["blk.0.attn_q.weight"].data, ours["blk.0.attn_q.weight"].tensor_type
    )
    base_q = gguf.quants.dequantize(
        theirs["blk.0.attn_q.weight"].data, theirs["blk.0.attn_q.weight"].tensor_type
    )
    merged_q = weights["model.layers.0.self_attn.q_proj.weight"]
    assert np.abs(q - merged_q).max() < 1e-2
    assert np.abs(merged_q - base_q).max() > 1e-3  # the adapter did change it
    # A norm: stored as 1 + w, in f32, equal to the source file's (LoRA leaves norms alone).
    norm = ours["blk.0.attn_norm.weight"]
    assert norm.tensor_type == gguf.GGMLQuantizationType.F32
    np.testing.assert_allclose(norm.data, theirs["blk.0.attn_norm.weight"].data, atol=1e-6)
    assert ours["token_embd.weight"].tensor_type == gguf.GGMLQuantizationType.F16


@pytest.mark.slow
def test_export_leaves_no_partial_file(exported):
    *_, folder = exported
    assert not list(Path(folder).glob(".*.partial"))
