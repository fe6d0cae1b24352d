"""Runs the other stages on question sets and turns the results into numbers."""
