"""Benchmarks (`make bench`, bench/run.py); each also runs alone: `python -m bench.<name>` from the repository."""
