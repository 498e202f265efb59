"""The API function stays light: importing app.py pulls in none of the export's heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

from clickstream.target import ROOT

HEAVY = ("pandas", "pyarrow", "awswrangler", "duckdb", "ua_parser")  # ua_parser: deferred to the first request


def test_importing_the_api_imports_no_heavy_library() -> None:
    probe = "import json, sys, app; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"

    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)

    top_level = set(json.loads(done.stdout))
    assert "chalicelib" in top_level
    assert top_level.isdisjoint(HEAVY), top_level & set(HEAVY)
