"""Offline build: ``chalice package --merge-template`` into ``build/<stage>/`` and lint it.

Nothing here calls AWS, so ``make package`` and the unit tests run on any machine.
The output is Chalice's own: ``sam.yaml`` (SAM template with the merge applied)
and ``deployment.zip`` (the code of all three functions; pandas/pyarrow come from
the managed layer, not from this zip), made to match the Lambda runtime pinned in
deploy/pandas-layers.json rather than the Python that ran chalice: every function's
``Runtime`` is set to it and the zip's wheels are swapped for that runtime's ABI
(deploy/wheels.py). Chalice 1.34 has no setting for either.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy import wheels

APP_DIR = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = APP_DIR / "deploy" / "resources.yaml"
LAYERS_FILE = APP_DIR / "deploy" / "pandas-layers.json"
BUILD_DIR = APP_DIR / "build"
WHEEL_CACHE = BUILD_DIR / ".wheels"  # gitignored; pip's own HTTP cache makes a fresh clone's downloads cheap

# Chalice function name -> logical ID of the function and of its role in the template.
FUNCTIONS: dict[str, tuple[str, str]] = {
    "api_handler": ("APIHandler", "ApiHandlerRole"),
    "export_events": ("ExportEvents", "ExportEventsRole"),
    "export_worker": ("ExportWorker", "ExportWorkerRole"),
}


class DeployError(Exception):
    """Root of the deploy tooling's errors; the message says what to fix."""


class PackageError(DeployError):
    """``chalice package`` failed or its output is not a deployable template."""


@dataclass(frozen=True)
class Package:
    stage: str
    directory: Path

    @property
    def template_path(self) -> Path:
        return self.directory / "sam.yaml"

    @property
    def zip_path(self) -> Path:
        return self.directory / "deployment.zip"

    def template(self) -> dict[str, Any]:
        return load_template(self.template_path)


def missing_functions(template: dict[str, Any]) -> list[str]:
    """Functions deploy/resources.yaml extends but Chalice did not generate (not in app.py)."""
    return [
        logical
        for logical, _ in FUNCTIONS.values()
        if template.get("Resources", {}).get(logical, {}).get("Type") != "AWS::Serverless::Function"
    ]


MISSING_FUNCTIONS_HINT = (
    "deploy/resources.yaml extends them, so app.py must define the API routes, "
    "@app.schedule export_events and @app.lambda_function(name='export_worker')"
)


@dataclass(frozen=True)
class ZipSummary:
    compressed_bytes: int
    uncompressed_bytes: int
    files: int
    largest: list[tuple[str, int]]

    def describe(self) -> str:
        top = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in self.largest)
        return (
            f"deployment.zip: {self.compressed_bytes / 1024:.1f} KiB compressed, "
            f"{self.uncompressed_bytes / 1024:.1f} KiB unpacked, {self.files} files"
            f" (largest: {top})"
        )


# The chalice console script, run by this interpreter: no need to find the script on PATH.
CHALICE = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())"]


def stage_schedule_minutes(stage: str, app_dir: Path = APP_DIR) -> str:
    """The stage's export schedule from .chalice/config.json (stage value over the top level).

    app.py reads it from the environment when chalice evaluates the app to package it, so
    the EventBridge rule of each stage gets its own rate.
    """
    config = json.loads((app_dir / ".chalice" / "config.json").read_text())
    stage_env = config.get("stages", {}).get(stage, {}).get("environment_variables", {})
    merged = {**config.get("environment_variables", {}), **stage_env}
    return str(merged.get("CLICKSTREAM_EXPORT_SCHEDULE_MINUTES", "5"))


@dataclass(frozen=True)
class LayerPin:
    """deploy/pandas-layers.json: the runtime, the layer release and the versions the layer holds."""

    runtime: str
    python: str
    awswrangler: str
    pyarrow: str
    pandas: str
    numpy: str
    boto3: str
    arns: dict[str, str]


def layer_pin(layers_file: Path = LAYERS_FILE) -> LayerPin:
    data = json.loads(layers_file.read_text(encoding="utf-8"))
    pin = LayerPin(
        data["runtime"],
        data["python"],
        data["awswrangler"],
        data["pyarrow"],
        data["pandas"],
        data["numpy"],
        data["boto3"],
        {region: entry["arn"] for region, entry in data["layers"].items()},
    )
    if pin.runtime != f"python{pin.python}":
        raise DeployError(f"{layers_file.name}: runtime {pin.runtime} and layer python {pin.python} disagree")
    tag = "Python" + pin.python.replace(".", "") + ":"
    if wrong := [arn for arn in pin.arns.values() if f":layer:AWSSDKPandas-{tag}" not in arn]:
        raise DeployError(f"{layers_file.name}: layers {wrong} are not the {pin.runtime} x86_64 layer")
    return pin


def set_runtime(template_path: Path, runtime: str) -> int:
    """Write ``runtime`` into every function of the packaged template; returns how many."""
    template = load_template(template_path)
    functions = [r for r in template.get("Resources", {}).values() if r.get("Type") == "AWS::Serverless::Function"]
    for resource in functions:
        resource.setdefault("Properties", {})["Runtime"] = runtime
    if "Runtime" in template.get("Globals", {}).get("Function", {}):
        template["Globals"]["Function"]["Runtime"] = runtime
    with template_path.open("w", encoding="utf-8") as f:
        yaml.safe_dump(template, f, sort_keys=False, width=120)
    return len(functions)


def runtimes(template: dict[str, Any]) -> dict[str, str]:
    """Logical ID -> Runtime of every function in a template."""
    return {
        logical: r.get("Properties", {}).get("Runtime", "")
        for logical, r in template.get("Resources", {}).items()
        if r.get("Type") == "AWS::Serverless::Function"
    }


def chalice_package(
    stage: str,
    out_dir: Path | None = None,
    *,
    app_dir: Path = APP_DIR,
    region: str = "us-east-1",
    python: str | None = None,
    deployable: bool = True,
) -> Package:
    """Run ``chalice package --merge-template deploy/resources.yaml`` for ``stage``, then retarget it.

    ``python`` is the Lambda runtime's version (default: deploy/pandas-layers.json, the
    layer's); whatever interpreter runs this, the template says ``python<python>`` and the
    zip's wheels are that CPython's. Chalice insists on a region even for an offline
    package; it does not change the template (every ARN in it is built with ``${AWS::Region}``).
    """
    python = python or layer_pin().python
    try:
        wheels.runtime_python(f"python{python}", deployable=deployable)
    except wheels.WheelError as exc:
        raise PackageError(str(exc)) from exc
    if not (app_dir / "app.py").exists():
        raise PackageError(f"{app_dir / 'app.py'} does not exist; there is no app to package yet")
    out_dir = out_dir or BUILD_DIR / stage
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    command = [
        *CHALICE,
        "--project-dir",
        str(app_dir),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(MERGE_TEMPLATE),
        str(out_dir),
    ]
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", region),
        "CLICKSTREAM_EXPORT_SCHEDULE_MINUTES": stage_schedule_minutes(stage, app_dir),
    }
    # Chalice's wheel cache (.chalice/deployments) and ours are shared: one packaging at a time
    # (parallel test workers, two terminals).
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / ".package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PackageError(f"chalice package failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        package = Package(stage=stage, directory=out_dir)
        if not package.template_path.exists() or not package.zip_path.exists():
            raise PackageError(f"chalice package wrote no sam.yaml/deployment.zip in {out_dir}")
        try:
            wheels.retarget(package.zip_path, python, WHEEL_CACHE / f"cp{python.replace('.', '')}")
        except wheels.WheelError as exc:
            raise PackageError(f"cannot build the zip for Lambda python{python}: {exc}") from exc
    set_runtime(package.template_path, f"python{python}")
    return package


def load_template(path: Path) -> dict[str, Any]:
    # Chalice writes intrinsics in long form (Fn::Sub, Ref), so plain YAML loads it;
    # it also writes YAML aliases, which CloudFormation rejects: deploy as JSON.
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def lint(path: Path, regions: list[str] | None = None) -> list[str]:
    """cfn-lint findings (errors and warnings) as printable lines; empty when clean."""
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(path, config=ManualArgs(regions=regions or ["us-east-1"]))
    return [f"{m.rule.id} {m.message} ({m.filename}:{m.linenumber})" for m in matches]


def summarize_zip(path: Path, top: int = 3) -> ZipSummary:
    with zipfile.ZipFile(path) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
    largest = sorted(((i.filename, i.file_size) for i in infos), key=lambda t: -t[1])[:top]
    return ZipSummary(
        compressed_bytes=path.stat().st_size,
        uncompressed_bytes=sum(i.file_size for i in infos),
        files=len(infos),
        largest=largest,
    )


def layer_arn(region: str, layers_file: Path = LAYERS_FILE) -> str:
    arns = layer_pin(layers_file).arns
    if region not in arns:
        raise DeployError(
            f"no AWS SDK for pandas layer pinned for {region} in {layers_file.name}; add it "
            "(https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html) or pass --pandas-layer-arn"
        )
    return arns[region]
