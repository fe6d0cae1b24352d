"""LoRA data builder and trainer.

The trainer is exercised on a tiny randomly initialised Gemma 3 (hidden size 32, 2 layers)
with a byte-level BPE tokenizer trained inside the test: no download, a few seconds.
Only the tests marked slow load the real Gemma 3 270M.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from assistant.citations import cited_numbers
from assistant.prompts import ABSTAIN, chunk_body, render
from assistant.training.lora.config import LoraTrainConfig
from assistant.training.lora.data import (
    HEADING_ID,
    build_dataset,
    cut_passage,
    group_sections,
    read_examples,
    section_key,
)
from corpus.chunking import chunk_notes
from corpus.loader import load_notes
from corpus.markdown import plain_text
from corpus.questions import is_relevant, load_questions
from corpus.records import Chunk

ROOT = Path(__file__).resolve().parents[1]
from tests.conftest import NOTES  # noqa: E402  (the tracked notes)

DEV_SET = ROOT / "eval" / "data" / "notes_dev.jsonl"
SHIPPED = ROOT / "eval" / "data" / "lora_train.jsonl"
PASSAGE_LINE = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)


# -- config ---------------------------------------------------------------------------------

BAD_CONFIGS = [
    ("rank", 0),
    ("rank", 2.5),
    ("alpha", -1),
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("target_modules", ()),
    ("target_modules", ("qkv",)),
    ("learning_rate", 0.0),
    ("learning_rate", 0.5),
    ("warmup_steps", -1),
    ("epochs", 0),
    ("batch_size", 0),
    ("grad_accumulation", 0),
    ("max_seq_len", 10),
    ("eval_fraction", 0.0),
    ("eval_fraction", 1.0),
    ("distractors", -1),
    ("abstain_fraction", 1.0),
    ("variants", 0),
    ("passage_chars", 50),
    ("save_steps", 0),
    ("max_grad_norm", 0.0),
]


@pytest.mark.parametrize(("name", "value"), BAD_CONFIGS)
def test_config_rejects_bad_values_naming_field_and_value(name, value):
    with pytest.raises(ValueError, match=name) as error:
        LoraTrainConfig(**{name: value})
    shown = value if isinstance(value, tuple) and value else [value]  # a tuple: its bad items
    assert all(repr(item) in str(error.value) for item in shown), str(error.value)


def test_config_rejects_abstention_without_distractors():
    with pytest.raises(ValueError, match="distractors"):
        LoraTrainConfig(distractors=0, abstain_fraction=0.25)


def test_config_round_trips_through_json(tmp_path):
    config = LoraTrainConfig(rank=4, target_modules=("q_proj", "v_proj"))
    config.save(tmp_path / "c.json")
    assert LoraTrainConfig.load(tmp_path / "c.json") == config
    with pytest.raises(ValueError, match="unknown"):
        LoraTrainConfig.from_json({**config.to_json(), "rnak": 8})


# -- dataset --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("lora") / "lora_train.jsonl"
    report = build_dataset(NOTES, DEV_SET, out, LoraTrainConfig())
    split = json.loads((out.parent / "lora_split.json").read_text(encoding="utf-8"))
    return report, read_examples(out), split, out


@pytest.fixture(scope="module")
def sections() -> dict[str, list[Chunk]]:
    return group_sections(chunk_notes(load_notes(NOTES).notes))


def _passages(prompt: str) -> dict[int, str]:
    """Passage number -> its heading, read back from the prompt text."""
    block = prompt.split("\nPasajes:\n", 1)[1].rsplit("\n\nPregunta: ", 1)[0]
    return {int(n): heading for n, heading in PASSAGE_LINE.findall(block)}


def _snippet(chunk: Chunk) -> str:
    """The first 80 characters of a chunk's body as the prompt shows it."""
    return plain_text(chunk_body(chunk)).strip()[:80]


def test_split_holds_out_about_30_percent_of_sections_and_is_saved(built, sections):
    report, _, split, _ = built
    train, held = set(split["train_sections"]), set(split["eval_sections"])
    assert not train & held
    assert train | held == set(sections)
    assert 0.25 <= len(held) / len(sections) <= 0.35
    dev = [q for q in load_questions(DEV_SET) if q.answerable]
    assert {q.id for q in dev if section_key(q.section) in held} == set(split["eval_question_ids"])
    assert report["eval_sections"] == len(held)


def test_no_held_out_section_reaches_training(built, sections):
    _, rows, split, _ = built
    held = set(split["eval_sections"])
    held_ids = set(split["eval_question_ids"])
    snippets = [_snippet(c) for s in held for c in sections[s]]
    for row in rows:
        assert row["section"] not in held
        assert row["question_id"] == HEADING_ID or row["question_id"] not in held_ids
        assert not held & {section_key(h) for h in _passages(row["prompt"]).values()}
        assert not [s for s in snippets if s in row["prompt"]], row["question"]


def test_every_answer_cites_the_position_of_its_section(built):
    _, rows, _, _ = built
    answers = [r for r in rows if r["kind"] == "answer"]
    assert answers
    for row in answers:
        passages = _passages(row["prompt"])
        assert len(passages) == 3
        right = [n for n, heading in passages.items() if section_key(heading) == row["section"]]
        assert right == [row["cited"]], row["question"]
        assert cited_numbers(row["completion"]) == [row["cited"]]
        assert row["completion"].startswith(" ") and row["completion"].rstrip().endswith("]")


def test_right_passage_position_varies(built):
    report, _, _, _ = built
    counts = report["right_positions"]
    assert set(counts) == {1, 2, 3}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_abstentions_hold_none_of_the_answering_text(built, sections):
    _, rows, _, _ = built
    evidence = {q.id: q.evidence for q in load_questions(DEV_SET)}
    abstentions = [r for r in rows if r["kind"] == "abstain"]
    share = LoraTrainConfig().abstain_fraction
    assert share - 0.02 <= len(abstentions) / len(rows) <= share + 0.02
    for row in abstentions:
        assert row["completion"] == " " + ABSTAIN
        assert row["cited"] == 0
        assert row["section"] not in {section_key(h) for h in _passages(row["prompt"]).values()}
        assert not [c for c in sections[row["section"]] if _snippet(c) in row["prompt"]]
        block = row["prompt"].split("\nPasajes:\n", 1)[1]
        assert not is_relevant(block, evidence.get(row["question_id"], [])), row["question"]


def test_prompts_are_the_zero_shot_prompt(built):
    _, rows, _, _ = built
    instructions = render("instructions", abstain=ABSTAIN)
    for row in rows:
        assert row["prompt"].startswith(instructions + "\n\nPasajes:\n[1] ")
        assert row["prompt"].endswith(f"\n\nPregunta: {row['question']}\nRespuesta:")


def test_build_is_deterministic(built, tmp_path):
    _, _, _, out = built
    again = tmp_path / "lora_train.jsonl"
    build_dataset(NOTES, DEV_SET, again, LoraTrainConfig())
    assert again.read_bytes() == out.read_bytes()
    assert (tmp_path / "lora_split.json").read_bytes() == (
        out.parent / "lora_split.json"
    ).read_bytes()


def test_shipped_dataset_is_what_its_config_builds(tmp_path):
    provenance = json.loads(SHIPPED.with_suffix(".config.json").read_text(encoding="utf-8"))
    config = LoraTrainConfig.from_json(provenance["config"])
    rebuilt = tmp_path / "lora_train.jsonl"
    build_dataset(NOTES, DEV_SET, rebuilt, config)
    assert rebuilt.read_bytes() == SHIPPED.read_bytes(), (
        "eval/data/lora_train.jsonl is stale: rebuild it with build_dataset"
    )


OOD_NOTES = ROOT / "eval" / "data" / "ood_notes"
OOD_DEV = ROOT / "eval" / "data" / "ood_dev.jsonl"


def test_ood_dev_set_points_into_the_ood_notes():
    """Same rules as notes_dev.jsonl: verbatim evidence of 5-15 words that occurs under
    the named section and under no other."""
    questions = load_questions(OOD_DEV)
    answerable = [q for q in questions if q.answerable]
    assert len(questions) >= 30 and len(questions) - len(answerable) >= 6
    assert len({q.id for q in questions}) == len(questions)
    groups = group_sections(chunk_notes(load_notes(OOD_NOTES).notes))
    for question in questions:
        if not question.answerable:
            assert question.answers == [] and question.evidence == []
            continue
        assert question.answers and question.evidence, question.id
        for evidence in question.evidence:
            assert 5 <= len(evidence.split()) <= 15, (question.id, evidence)
            holders = [
                key for key, chunks in groups.items() if is_relevant(chunks[0].text, [evidence])
            ]
            assert holders == [section_key(question.section)], (question.id, evidence)
    notes_sections = set(group_sections(chunk_notes(load_notes(NOTES).notes)))
    assert not notes_sections & set(groups)  # another topic: nothing learnt from the notes applies


CUT_CASES = [  # (text, limit, evidence, must keep)
    ("## T\n\n" + "Primera frase corta. " * 40, 200, (), "Primera frase corta."),
    (
        "## T\n\nIntro.\n\n" + "relleno " * 100 + "\n\nla frase con la prueba al final.",
        150,
        ("la frase con la prueba al final",),
        "la frase con la prueba al final.",
    ),
]


@pytest.mark.parametrize(("text", "limit", "evidence", "kept"), CUT_CASES)
def test_cut_passage_keeps_evidence_and_is_a_prefix(text, limit, evidence, kept):
    chunk = Chunk("id", "n.md", "T", text, 0, len(text), "T")
    cut = cut_passage(chunk, limit, evidence)
    assert text.startswith(cut.text)
    assert kept in cut.text
    assert len(cut.text) <= max(limit, text.find(kept) + len(kept))
    assert is_relevant(cut.text, evidence) or not evidence


# -- trainer on a tiny model ----------------------------------------------------------------

TINY_ROWS = [
    {
        "prompt": "Pasajes:\n[1] El agua hierve a cien grados.\n[2] La luna gira.\n\nPregunta: ¿A cuántos grados hierve el agua?\nRespuesta:",
        "completion": " A cien grados. [1]",
        "section": "a",
        "kind": "answer",
    },
    {
        "prompt": "Pasajes:\n[1] La luna gira.\n[2] El hierro se oxida.\n\nPregunta: ¿Qué es LoRA?\nRespuesta:",
        "completion": " " + ABSTAIN,
        "section": "b",
        "kind": "abstain",
    },
    {
        "prompt": "Pasajes:\n[1] La luna gira.\n[2] El sol es una estrella.\n\nPregunta: ¿Qué es el sol?\nRespuesta:",
        "completion": " Una estrella. [2]",
        "section": "c",
        "kind": "answer",
    },
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One torch thread: on a shared 2-core machine, two threads of a tiny model spend
    more time waiting for each other than computing (a 3-step run: 12 s vs ~1 s)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A folder with a random 2-layer Gemma 3 and a BPE tokenizer trained on the rows."""
    torch = pytest.importorskip("torch")
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import (
        Gemma3ForCausalLM,
        Gemma3TextConfig,
        PreTrainedTokenizerFast,
    )

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = [r["prompt"] + r["completion"] for r in TINY_ROWS] * 5
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    bos = bpe.token_to_id("<bos>")
    bpe.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", bos)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
    )
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=512,
        sliding_window=64,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=bos,
        # Wider than the default 0.02, so that the attention output (what LoRA changes)
        # reaches the logits of a random model and a few steps visibly lower the loss.
        initializer_range=0.2,
    )
    folder = tmp_path_factory.mktemp("tiny-gemma")
    Gemma3ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in TINY_ROWS * 2), encoding="utf-8"
    )
    return path


TINY_CONFIG = {
    "rank": 4,
    "alpha": 8,
    "dropout": 0.1,
    "max_seq_len": 128,
    "warmup_steps": 1,
    "learning_rate": 5e-3,
    "grad_accumulation": 2,
    "save_steps": 1,
}


def test_labels_mask_the_prompt(tiny_base):
    from assistant.training.lora.train import IGNORE, encode_example, load_base

    tokenizer, _ = load_base(tiny_base)
    row = TINY_ROWS[0]
    example = encode_example(tokenizer, row["prompt"], row["completion"])
    prompt_ids = tokenizer(row["prompt"]).input_ids
    completion_ids = tokenizer(row["completion"], add_special_tokens=False).input_ids
    assert example.input_ids[0] == tokenizer.bos_token_id
    assert example.input_ids == prompt_ids + completion_ids + [tokenizer.eos_token_id]
    assert example.labels[: len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    assert example.labels[len(prompt_ids) :] == completion_ids + [tokenizer.eos_token_id]


def test_padded_batch_has_the_loss_of_its_examples_alone(tiny_base):
    import torch

    from assistant.training.lora.train import collate, completion_loss, encode_example, load_base

    tokenizer, model = load_base(tiny_base)
    model.eval()
    examples = [encode_example(tokenizer, r["prompt"], r["completion"]) for r in TINY_ROWS]
    with torch.no_grad():
        together = completion_loss(model, collate(examples, tokenizer.pad_token_id))
        alone = [completion_loss(model, collate([e], tokenizer.pad_token_id)) for e in examples]
    assert torch.allclose(together, torch.stack(alone).mean(), atol=1e-5)


def test_training_steps_lower_the_loss_and_change_only_lora(tiny_base):
    import torch

    from assistant.training.lora.train import (
        add_lora,
        collate,
        completion_loss,
        encode_example,
        load_base,
    )

    torch.manual_seed(0)
    tokenizer, model = load_base(tiny_base)
    model = add_lora(model, LoraTrainConfig(rank=4, alpha=8, dropout=0.0))
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    batch = collate(
        [encode_example(tokenizer, r["prompt"], r["completion"]) for r in TINY_ROWS],
        tokenizer.pad_token_id,
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=3e-2)
    model.train()
    losses = []
    for _ in range(12):
        loss = completion_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5, losses
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and all("lora_" in k for k in changed)
    assert any("lora_B" in k for k in changed)  # B starts at zero: the adapter now does something


def test_train_lora_writes_the_adapter_folder(tiny_base, tiny_data, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from assistant.training.lora.train import train_lora

    out = tmp_path / "adapter"
    config = LoraTrainConfig(**TINY_CONFIG)
    summary = train_lora(str(tiny_base), tiny_data, out, config)
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert not (out / "checkpoints").exists()  # keep_checkpoints=False
    assert LoraTrainConfig.load(out / "train_config.json") == config
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == list(range(1, summary["steps"] + 1))
    assert set(log[0]) >= {"step", "loss", "lr", "seconds"}
    assert summary["examples"] == 6 and summary["steps"] == 3  # 6 examples / accumulation 2
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    loaded = PeftModel.from_pretrained(base, str(out))
    assert any("lora_A" in name for name, _ in loaded.named_parameters())


def test_resume_continues_at_the_saved_step(tiny_base, tiny_data, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from assistant.training.lora import train as trainer

    config = LoraTrainConfig(**TINY_CONFIG)
    whole = tmp_path / "whole"
    trainer.train_lora(str(tiny_base), tiny_data, whole, config)

    original = trainer.save_checkpoint

    def killed_after_step_2(root, model, optimizer, scheduler, state):
        folder = original(root, model, optimizer, scheduler, state)
        if state["step"] == 2:
            raise KeyboardInterrupt("simulated kill after the checkpoint of step 2")
        return folder

    resumed = tmp_path / "resumed"
    monkeypatch.setattr(trainer, "save_checkpoint", killed_after_step_2)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_lora(str(tiny_base), tiny_data, resumed, config)
    monkeypatch.setattr(trainer, "save_checkpoint", original)
    assert (resumed / "checkpoints" / "step-000002").is_dir()
    assert not (resumed / "adapter_model.safetensors").exists()

    summary = trainer.train_lora(str(tiny_base), tiny_data, resumed, config)
    assert summary["resumed_from"] == 2
    log = [json.loads(line) for line in (resumed / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3]
    # Same data order, same RNG for dropout: the resumed run ends where the whole one did.
    a = load_file(str(whole / "adapter_model.safetensors"))
    b = load_file(str(resumed / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert all((a[k] - b[k]).abs().max().item() < 1e-6 for k in a)


def test_resume_refuses_a_checkpoint_of_another_config(tiny_base, tiny_data, tmp_path, monkeypatch):
    from assistant.errors import AdapterError
    from assistant.training.lora import train as trainer

    out = tmp_path / "run"
    config = LoraTrainConfig(**{**TINY_CONFIG, "keep_checkpoints": True})
    trainer.train_lora(str(tiny_base), tiny_data, out, config)
    (out / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterError, match="otra configuración"):
        trainer.train_lora(
            str(tiny_base), tiny_data, out, LoraTrainConfig(**{**TINY_CONFIG, "rank": 2})
        )


def test_finished_adapter_is_not_overwritten_by_accident(tiny_base, tiny_data, tmp_path):
    from assistant.errors import AdapterError
    from assistant.training.lora.train import train_lora

    out = tmp_path / "run"
    config = LoraTrainConfig(**TINY_CONFIG)
    train_lora(str(tiny_base), tiny_data, out, config)
    with pytest.raises(AdapterError, match="Ya hay un adaptador"):
        train_lora(str(tiny_base), tiny_data, out, config)
    assert train_lora(str(tiny_base), tiny_data, out, config, resume=False)["resumed_from"] is None


def test_missing_data_file_is_a_spanish_error(tmp_path):
    from assistant.training.lora.train import train_lora
    from corpus.errors import QuestionsFileError

    with pytest.raises(QuestionsFileError, match="No existe el archivo de entrenamiento"):
        train_lora("gemma-270m", tmp_path / "nada.jsonl", tmp_path / "out", LoraTrainConfig())


def test_unknown_base_model_is_a_spanish_error():
    from assistant.training.lora.train import model_folder
    from corpus.errors import AssistantError

    with pytest.raises(AssistantError, match="Modelo base desconocido"):
        model_folder("no-such-model")


# -- the real model -------------------------------------------------------------------------


@pytest.mark.slow
def test_shipped_examples_fit_the_real_tokenizer():
    from transformers import AutoTokenizer

    from assistant.generators.model_cache import prepare_model
    from assistant.training.lora.train import encode_example

    tokenizer = AutoTokenizer.from_pretrained(prepare_model("gemma-270m"), local_files_only=True)
    config = LoraTrainConfig.from_json(
        json.loads(SHIPPED.with_suffix(".config.json").read_text(encoding="utf-8"))["config"]
    )
    lengths = [
        len(encode_example(tokenizer, r["prompt"], r["completion"]).input_ids)
        for r in read_examples(SHIPPED)
    ]
    assert max(lengths) <= config.max_seq_len


@pytest.mark.slow
def test_one_real_gemma_step_lowers_the_loss_on_its_batch():
    import torch

    from assistant.training.lora.train import (
        add_lora,
        collate,
        completion_loss,
        encode_example,
        load_base,
        model_folder,
    )

    torch.manual_seed(0)
    tokenizer, model = load_base(model_folder("gemma-270m"))
    model = add_lora(model, LoraTrainConfig(dropout=0.0))
    row = next(r for r in read_examples(SHIPPED) if r["kind"] == "answer")
    batch = collate(
        [encode_example(tokenizer, row["prompt"], row["completion"])], tokenizer.pad_token_id
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    first = completion_loss(model, batch)
    first.backward()
    optimizer.step()
    optimizer.zero_grad()
    assert completion_loss(model, batch).item() < first.item()
