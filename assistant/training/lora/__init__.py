"""LoRA fine-tuning of a base model on the assistant's own skill: read numbered passages,
answer briefly in Spanish, cite the right [n], or write the abstention sentence.

    build_dataset(notes_dir, dev_questions, out, config)   # assistant.training.lora.data
    train_lora(base, data, out, config)                     # assistant.training.lora.train

torch, transformers and peft are imported inside the trainer's functions, so importing
this package (or building a dataset) stays light.
"""

from assistant.training.lora.config import LoraTrainConfig
from assistant.training.lora.data import build_dataset

__all__ = ["LoraTrainConfig", "build_dataset", "train_lora"]


def train_lora(*args, **kwargs):
    """assistant.training.lora.train.train_lora, imported on first use (it brings in torch)."""
    from assistant.training.lora.train import train_lora as _train_lora

    return _train_lora(*args, **kwargs)
