"""Benchmarks with in-run baselines; ``python -m bench`` runs them all (see README)."""
