"""Benchmarks of the project (``make bench`` runs ``python -m benchmarks``)."""
