"""checkov over the packaged template: no failure without an inline, explained skip.

checkov runs from its own cached virtualenv (<cache>/checkov/<version>/, see lambda_runtime.py), not the development
one: it pins boto3, packaging and networkx exactly (boto3==1.35.49, packaging<24, networkx<2.7),
which would downgrade boto3 and pytest there (docs/decisions/0006-lambda-runtime-and-layer.md).
Skips live in deploy/resources.yaml as ``Metadata: checkov: skip: [{id, comment}]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from deploy.package import Package, chalice_package
from tests.artifact.lambda_runtime import CACHE, _locked

CHECKOV = "checkov==3.3.30"
VENV = CACHE.parent / "checkov" / CHECKOV.split("==")[1]


def checkov_command() -> list[str]:
    with _locked(VENV):
        if not (VENV / ".complete").exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, capture_output=True)
            done = subprocess.run(
                [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", CHECKOV],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"installing {CHECKOV} failed:\n{done.stdout}{done.stderr}")
            (VENV / ".complete").write_text("")
    return [str(VENV / "bin" / "python"), "-m", "checkov.main"]  # not bin/checkov: its shebang pins the venv's first path


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    package: Package = chalice_package("prod", tmp_path_factory.mktemp("scan") / "prod")
    done = subprocess.run(
        [
            *checkov_command(),
            "-f",
            str(package.template_path),
            "--framework",
            "cloudformation",
            "--compact",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_finds_no_unexplained_failure(scan: dict[str, Any]) -> None:
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in scan["results"]["failed_checks"]]
    assert not failed, "fix these in deploy/resources.yaml or skip inline with a one-line reason:\n  " + "\n  ".join(failed)
    assert scan["summary"]["parsing_errors"] == 0
    assert scan["summary"]["passed"] > 50  # it did scan the whole template


def test_every_skip_says_why(scan: dict[str, Any]) -> None:
    for check in scan["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason.split()) >= 5, f"{check['check_id']} {check['resource']}: no reason given"
