"""The dashboard's first page in a new process, measured: the local engine with sqlglot's own
mypyc-compiled build (``sqlglotc``, installed with the project on Linux and macOS) against the
same sqlglot release as pure Python, in one run.

    .venv/bin/python -m bench.bench_cold [--repeat 5] [--no-doc]

Why: every statement the dashboard runs is Athena SQL that sqlglot translates to DuckDB's dialect
(clickstream.lake.translate) and batches into one statement (clickstream.lake.batch). Both are
kept for the process's life, so the first page after ``make run`` (or after the engine's process
restarts) pays them: in a probe (2026-12-05) the cold page took 3.9-6.0 s against 1.5-2.9 s warm,
of which sqlglot's tokenizer, parser and generator were about 3 s.

Each way in a new process (``--child``), alternating, ``--repeat`` times, medians:

1. **SQL**: the 16 panels' statements over 30 days with the raw last day, resolved and translated,
   and the page's batched statement composed, from a cold start (nothing run). The two builds'
   texts are compared: the same bytes both ways, so the same answers by construction.
2. **The page**: the 16 panels as one batched statement (LocalLake.query_many) over 30 days with
   the raw last day, the first in the process and the one after it.
3. **The dashboard's request** (/dashboard/api/panels over the same 30 days, now in its last day:
   the previous period included), the first in the process.
4. **The same request after the warm-up** that ``make run`` does as it starts
   (clickstream.dashboard.pages.warm_up: the default view answered once, thrown away), compiled
   sqlglot only, against 3. The warm-up's own time is reported beside it.

The pure build is sqlglot's wheel of the installed version, put ahead of the installed one on the
child's ``sys.path`` (``pip install --target bench/results/sqlglot-pure-<version>``, once): the
same interpreter and packages otherwise.

Lake: bench.bench_month_panels' (built there when missing). Figures go to
docs/performance-dashboard.md, section "The first page in a new process".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from datetime import time as clock
from pathlib import Path

from bench._pagebench import FIRST, THROUGH, ratio, report, start
from bench.bench_dashboard_queries import LAST_DAY
from bench.bench_month_panels import LAKE

ROOT = Path(__file__).resolve().parent
MARK = "## The first page in a new process: sqlglot compiled"
WAYS = ("pure", "compiled")


def _sqlglot_version() -> str:
    from importlib.metadata import version

    return version("sqlglot")


def pure_sqlglot() -> Path:
    """A directory holding the installed sqlglot release as pure Python (its wheel), installed
    there once."""
    target = ROOT / "results" / f"sqlglot-pure-{_sqlglot_version()}"
    if not (target / "sqlglot" / "__init__.py").is_file():
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
        subprocess.run([*command, f"sqlglot=={_sqlglot_version()}"], check=True)
    return target


def child(kind: str) -> dict[str, object]:
    """One cold measure in this process (``kind``: sql, page or dashboard)."""
    import sqlglot.parser

    from clickstream.lake import directory_lake

    compiled = Path(sqlglot.parser.__file__ or "").suffix == ".so"
    lake = directory_lake(LAKE, cache_metadata=True)
    out: dict[str, object] = {"compiled": compiled}
    if kind == "sql":
        from bench.bench_month_panels import params
        from clickstream.lake import batch, prepare, query_names, translate

        started = time.perf_counter()
        queries = [lake._upto(*prepare(n, params(n, FIRST, LAST_DAY, THROUGH))) for n in query_names()]
        texts = [translate.to_duckdb(sql) for sql, _ in queries]
        composed = batch.compose(queries)
        out["seconds"] = time.perf_counter() - started
        out["digest"] = hashlib.sha256("\n;\n".join([*texts, composed.sql]).encode()).hexdigest()
    elif kind == "page":
        from bench.bench_month_panels import time_batched

        out["seconds"] = time_batched(lake, FIRST, LAST_DAY, THROUGH)
        out["second"] = time_batched(lake, FIRST, LAST_DAY, THROUGH)
    else:
        from bench.bench_rollups import time_dashboard

        running = datetime.combine(LAST_DAY, clock(18, 0), tzinfo=timezone.utc)
        if kind == "warmed":
            from bench.bench_dashboard_queries import APP
            from chalicelib.settings import from_env
            from clickstream.dashboard.pages import LakeRunner, handlers, warm_up
            from clickstream.dashboard.spec import load

            started = time.perf_counter()
            page = handlers(load(), LakeRunner(from_env({}), lake=lake), lambda: [APP], now=lambda: running)["/dashboard"]
            assert warm_up(page, lambda line: None) == 200
            out["warm_up"] = time.perf_counter() - started
        out["seconds"] = time_dashboard(lake, FIRST, LAST_DAY, running)[0]
    return out


def run_child(kind: str, way: str, pure: Path) -> dict[str, object]:
    env = dict(os.environ)
    path = [str(ROOT.parent)] + ([str(pure)] if way == "pure" else [])
    env["PYTHONPATH"] = os.pathsep.join([*path[::-1], env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_cold", "--child", kind], env=env, capture_output=True, text=True, check=True
    )
    out: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["compiled"] == (way == "compiled"), (way, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=("sql", "page", "dashboard", "warmed"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    _, uptime_before = start(["--repeat", str(args.repeat)], __doc__ or "")
    pure = pure_sqlglot()
    runs: dict[str, list[float]] = {}
    digests: dict[str, set[object]] = {way: set() for way in WAYS}
    for _ in range(args.repeat):
        for kind in ("sql", "page", "dashboard", "warmed"):
            for way in WAYS if kind != "warmed" else ("compiled",):
                out = run_child(kind, way, pure)
                if kind == "warmed":
                    runs.setdefault("dashboard warmed-up", []).append(float(out["seconds"]))  # type: ignore[arg-type]
                    runs.setdefault("the warm-up itself", []).append(float(out["warm_up"]))  # type: ignore[arg-type]
                    continue
                runs.setdefault(f"{kind} {way}", []).append(float(out["seconds"]))  # type: ignore[arg-type]
                if kind == "page":
                    runs.setdefault(f"page after {way}", []).append(float(out["second"]))  # type: ignore[arg-type]
                if kind == "sql":
                    digests[way].add(out["digest"])
        print("so far: " + "; ".join(f"{k} {' '.join(f'{x:.2f}' for x in v)}" for k, v in runs.items()))
    same = digests["pure"] == digests["compiled"] and len(digests["pure"]) == 1
    assert same, f"the two builds translated the page differently: {digests}"

    def pair(kind: str) -> str:
        return ratio(runs, kind, "pure", "compiled")

    summary = [
        f"* the page's SQL from a cold start (16 statements resolved and translated, the batch composed): {pair('sql')}",
        f"* the first page in the process (30 days, raw last day): {pair('page')}; the page after it {pair('page after')}",
        f"* the first dashboard request in the process (running period, the previous one included): {pair('dashboard')}",
        "* the same request after the warm-up `make run` does as it starts, compiled, against the first in the process: "
        f"{ratio(runs, 'dashboard', 'compiled', 'warmed-up')}; the warm-up itself "
        f"{statistics.median(runs['the warm-up itself']):.2f} s (median)",
    ]
    compared = (
        f"sqlglot {_sqlglot_version()}: pure Python (its wheel, ahead on the child's path) against the "
        "installed build with sqlglotc's compiled modules. Lake: bench.bench_month_panels' (10,000,000 "
        f"events 2026-10-22..{LAST_DAY}, rollups through {THROUGH}). Each measure in a new process. "
        "The page's translated and batched SQL: the same bytes both ways."
    )
    return report("bench_cold", MARK, args, uptime_before, compared, summary, runs)


if __name__ == "__main__":
    raise SystemExit(main())
