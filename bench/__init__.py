"""Benchmarks: a Matrix Client-Server load generator and the side-by-side runner (see README.md)."""
