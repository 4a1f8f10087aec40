"""Run the benchmarks: `python -m benchmarks` (all) or `python -m benchmarks core writes`."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys

import benchmarks


def main(names: list[str]) -> None:
    """Import each `benchmarks.bench_<name>` module and await its `main()`."""
    available = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )
    chosen = names or available
    unknown = [n for n in chosen if n not in available]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; available: {available}")
    for name in chosen:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        asyncio.run(module.main())


if __name__ == "__main__":
    main(sys.argv[1:])
