"""The exception family the CLI and the app turn into one-line messages.

At the bottom layer (corpus) so that every stage can raise them without importing upward.

Messages are in Spanish because they reach the student as they are; each says what went
wrong, with which input, and what to do about it.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class for every error caused by the user's input or environment."""


class NotesError(AssistantError):
    """The notes folder is missing, empty or holds nothing that can be indexed."""


class IndexNotBuiltError(AssistantError):
    """No index exists at the given folder."""


class IndexCorruptError(AssistantError):
    """The index folder exists but cannot be read back."""


class ModelNotInstalledError(AssistantError):
    """A model package that ships the weights is not installed."""


class QuestionsFileError(AssistantError):
    """A question file (JSONL) is missing or malformed."""


class AdapterError(AssistantError):
    """A LoRA adapter folder is missing, unreadable or made for another base model."""


class SettingsError(AssistantError, ValueError):
    """A setting (a config field, a CLI option) has a value it cannot take. Also a
    ValueError, as config validation has always raised, so callers that catch that keep
    working; the CLI and the app catch AssistantError, so a genuine ValueError from a bug
    still shows its traceback."""


class ModelServerError(AssistantError):
    """A model server (``--model openai:NAME``) is unreachable, too slow, lacks the model
    or fails the request."""
