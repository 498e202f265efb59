"""Runs the benchmarks: ``python -m bench`` (all) or ``python -m bench ingest coldstart`` (by name)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

PREFIX = "bench_"


def available() -> list[str]:
    return sorted(m.name[len(PREFIX) :] for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith(PREFIX))


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(available())}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{PREFIX}{name}")
        print(f"== {name}", flush=True)
        sys.argv = [module.__name__]  # a main() that parses options gets its defaults, not our names
        if module.main() != 0:
            failed.append(name)
        print(flush=True)
    if failed:
        print(f"goal missed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
