"""Docent benchmarks, one module per benchmark; run them as ``python -m bench NAME``."""
