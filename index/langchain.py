"""A built notes index as a LangChain retriever, for chains outside this project.

    retriever = NotesRetriever.from_index("/tmp/lcidx", k=5)
    retriever.invoke("¿Qué es LoRA?")  # -> list[Document], best first

The hits are ``NotesIndex.search``'s, the ones ``python -m assistant search`` prints for
the same question and k: the same embedder (the one the index was built with), retriever
and ranking. Each Document's page_content is the chunk's text; its metadata is the hit's
JSON without the text (``chunk_id``, ``source``, ``heading``, ``score``, the score rounded
as the CLI prints it) plus the chunk's ``start`` and ``end`` offsets in its note.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from corpus.errors import AssistantError, SettingsError
from corpus.records import Hit
from index.store import NotesIndex


def _check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SettingsError(f"k must be an integer >= 1, got {k!r}")


def to_document(hit: Hit) -> Document:
    """One hit as a Document: the chunk's text, and the CLI's JSON of the hit as metadata."""
    metadata = {key: value for key, value in hit.to_json().items() if key != "text"}
    metadata.update(start=hit.chunk.start, end=hit.chunk.end)
    return Document(page_content=hit.chunk.text, metadata=metadata)


class NotesRetriever(BaseRetriever):
    """The top ``k`` chunks of a loaded notes index for a query, as Documents."""

    # Checked on assignment too: `retriever.k = -3` once returned 49 documents.
    model_config = ConfigDict(arbitrary_types_allowed=True, validate_assignment=True)

    notes_index: NotesIndex
    # strict: a float or a string for k is a mistake here, not something to coerce.
    # from_index checks k first, so that a bad one is the project's SettingsError.
    k: int = Field(default=5, ge=1, strict=True)

    @classmethod
    def from_index(cls, index_dir: str | Path, k: int = 5) -> NotesRetriever:
        """Load the index in ``index_dir`` once (IndexNotBuiltError when there is none,
        IndexCorruptError when it cannot be read back); the embedder loads on the first
        query, as in the CLI's search."""
        _check_k(k)
        return cls(notes_index=NotesIndex.load(index_dir), k=k)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        # Stripped and checked as the CLI does, so that both search the same text.
        if not isinstance(query, str):
            raise AssistantError(f"La pregunta debe ser un texto, no {type(query).__name__}")
        question = query.strip()
        if not question:
            raise AssistantError("La pregunta está vacía")
        return [to_document(hit) for hit in self.notes_index.search(question, k=self.k)]
