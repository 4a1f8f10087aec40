"""Hand-run benchmarks: `python -m benchmarks [name ...]` prints tables of ratios."""
