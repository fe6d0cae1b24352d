"""Grounded question answering over a student's notes (CLI entry: ``python -m assistant``)."""
