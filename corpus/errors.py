"""The exception family the CLI and the app turn into one-line messages.

The base family lives here, at the bottom layer, so that every stage can raise and catch
them without importing upward; each stage adds its own subclasses beside its code
(``index.errors``, ``assistant.errors``).

Messages are in Spanish because they reach the student as they are; each says what went
wrong, with which input, and what to do about it.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class for every error caused by the user's input or environment."""


class NotesError(AssistantError):
    """The notes folder is missing, empty or holds nothing that can be indexed."""


class QuestionsFileError(AssistantError):
    """A question file (JSONL) is missing or malformed."""


class SettingsError(AssistantError, ValueError):
    """A setting (a config field, a CLI option) has a value it cannot take. Also a
    ValueError, as config validation has always raised, so callers that catch that keep
    working; the CLI and the app catch AssistantError, so a genuine ValueError from a bug
    still shows its traceback."""
