"""Benchmarks: scripts that print numbers (JSON too) and write them to --out; never tests."""
