"""The answering stage's errors: a bad LoRA adapter, a failing model server."""

from __future__ import annotations

from corpus.errors import AssistantError


class AdapterError(AssistantError):
    """A LoRA adapter folder is missing, unreadable or made for another base model."""


class ModelServerError(AssistantError):
    """A model server (``--model openai:NAME``) is unreachable, too slow, lacks the model
    or fails the request."""
