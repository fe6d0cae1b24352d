"""Chunks in, hits out: embedders, FAISS and BM25 retrieval, the on-disk index."""
