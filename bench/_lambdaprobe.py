"""Run a probe handler inside the artifact test's Lambda emulation (the packaged zip, the
layer's pyarrow, python3.13): the memory benches measure peak RSS where production runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.artifact import lambda_runtime as lr

# Placeholder resources: the probes call library code directly, no stack behind them.
REFS = {"EventTable": "t", "LakeBucket": "b", "LakePrefix": "lake", "GlueDatabase": "g", "MetricsNamespace": "Clickstream"}


def emulation(tmp: Path, probe_module: str, probe_source: str) -> lr.LambdaRuntime:
    """The packaged functions under ``tmp``, with ``probe_module``.py beside them."""
    runtime = lr.build(tmp, refs=REFS, local_env={})
    (tmp / "task" / f"{probe_module}.py").write_text(probe_source)
    return runtime


def probe(runtime: lr.LambdaRuntime, probe_module: str, event: dict[str, Any], label: str) -> dict[str, Any]:
    """One fresh invocation of ``probe_module.handler`` as the export worker; its result, printed."""
    [outcome] = runtime.invoke("export_worker", [event], handler=f"{probe_module}.handler")
    if "result" not in outcome:
        raise SystemExit(f"{label}: {outcome.get('message')}\n{outcome.get('trace')}")
    print(json.dumps(outcome["result"]), flush=True)
    return dict(outcome["result"])
