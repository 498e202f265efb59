"""Cold start of the API function: what ``import app`` costs, measured with ``python -X importtime``.

Goals (issue 2): importing the API imports no pandas, pyarrow or awswrangler (the export
handlers import them inside the function), and costs at most 1.5x ``import boto3, chalice``
measured in the same run: the floor for any Chalice function that talks to AWS.

Each ``-X importtime`` run prints one line per module with its cumulative microseconds;
a statement's cost is the sum over its top-level imports, not counting the ones the
interpreter makes before running it (site, encodings...), found by running ``pass``.
The figure is the median of RUNS runs of each, interleaved after one warm-up run each.

importtime is wall-clock time, so a busy neighbour on a shared machine inflates single
runs; the best run and the CPU time (user + sys of the child, start-up subtracted) are
printed too as cross-checks. Bytecode caching follows the environment: with
PYTHONDONTWRITEBYTECODE=1 our own modules are compiled from source in every run, as in
a Lambda zip without .pyc files.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 11
MAX_RATIO = 1.5
FORBIDDEN = ("pandas", "pyarrow", "awswrangler")
STATEMENTS = {"app": "import app", "floor": "import boto3, chalice", "startup": "pass"}
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")

Modules = dict[str, tuple[int, int, int]]  # module -> (depth, self µs, cumulative µs)


def run_child(statement: str) -> tuple[Modules, float]:
    """One fresh interpreter running ``statement``: its import tree and its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, capture_output=True, text=True, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    modules: Modules = {}
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            own, cumulative, indent, name = match.groups()
            modules[name] = (len(indent) // 2, int(own), int(cumulative))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return modules, cpu


def statement_ms(modules: Modules, startup: set[str]) -> float:
    return sum(cumulative for name, (depth, _, cumulative) in modules.items() if depth == 0 and name not in startup) / 1000


def main() -> int:
    trees: dict[str, list[Modules]] = {name: [] for name in STATEMENTS}
    cpu: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for statement in STATEMENTS.values():
        run_child(statement)
    for _ in range(RUNS):
        for name, statement in STATEMENTS.items():
            modules, seconds = run_child(statement)
            trees[name].append(modules)
            cpu[name].append(seconds * 1000)

    startup = set().union(*(t.keys() for t in trees["startup"]))
    wall = {name: [statement_ms(t, startup) for t in trees[name]] for name in ("app", "floor")}
    median = {name: statistics.median(values) for name, values in wall.items()}
    best = {name: min(values) for name, values in wall.items()}
    cpu_ms = {name: statistics.median(cpu[name]) - statistics.median(cpu["startup"]) for name in ("app", "floor")}
    ratio = median["app"] / median["floor"]
    imported = set().union(*(t.keys() for t in trees["app"]))
    heavy = sorted(m for m in imported if m.split(".")[0] in FORBIDDEN)
    ours = statistics.median(
        sum(own for name, (_, own, _) in t.items() if name.split(".")[0] in ("app", "chalicelib", "orjson")) / 1000
        for t in trees["app"]
    )

    bytecode = "off (compiled from source each run)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(f"python -X importtime, {RUNS} runs each after a warm-up, start-up imports excluded; bytecode cache {bytecode}")
    print(
        f"  import boto3, chalice   median {median['floor']:6.1f} ms   best {best['floor']:6.1f} ms   cpu "
        f"{cpu_ms['floor']:6.1f} ms"
    )
    print(f"  import app              median {median['app']:6.1f} ms   best {best['app']:6.1f} ms   cpu {cpu_ms['app']:6.1f} ms")
    print(
        f"  ratio app / floor       median {ratio:6.2f} x    best {best['app'] / best['floor']:6.2f} x    cpu "
        f"{cpu_ms['app'] / cpu_ms['floor']:6.2f} x"
        f"   (limit {MAX_RATIO} x on the medians)"
    )
    print(f"  app imports {len(imported)} modules; our own (app, chalicelib) and orjson: {ours:.1f} ms of it (median, self time)")
    print(f"  pandas/pyarrow/awswrangler imported: {', '.join(heavy) if heavy else 'none'}")
    met = not heavy and ratio <= MAX_RATIO
    print(f"goal: no heavy imports and <= {MAX_RATIO} x: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
