"""Tuning scripts: each chooses a setting on the dev sets (never on held-out files) and
writes what it measured."""
