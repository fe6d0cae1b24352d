"""Notes in, chunks out: loading a notes folder and heading-aware chunking."""
