"""Local generators behind one interface (see base.py)."""
