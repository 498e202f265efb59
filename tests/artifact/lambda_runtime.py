"""Run the deployment package the way AWS Lambda runs it, on this machine, without AWS.

What a function sees in Lambda, and what stands in for it here:

* ``/var/task``: the unzipped ``deployment.zip`` that ``deploy.package.chalice_package`` builds
  (the same code path as ``make package``: chalice, then the wheels swapped for the runtime).
* ``/opt/python``: the AWS SDK for pandas layer: awswrangler, pyarrow, pandas and numpy at the
  versions of the pinned release (deploy/pandas-layers.json), installed from PyPI, with boto3,
  botocore, s3transfer and urllib3 removed as building/lambda/build-lambda-layer.sh removes them.
  PyPI's pyarrow has every codec and the layer's has only snappy and zlib, so the emulated layer
  carries ``_emulated_layer_codecs.py``, which makes pyarrow refuse the others for reading and
  writing with the layer's own error (``Support for codec 'zstd' not built``).
* the runtime's boto3/botocore, at the pinned version, after the layer.
* the interpreter: ``python3.13`` (the runtime's version) started with ``-I -S``: no site-packages,
  no user site, no PYTHONPATH, no current directory: only the standard library and the paths above,
  in Lambda's order (docs.aws.amazon.com/lambda/latest/dg/python-package.html, "Dependency search
  path and runtime-included libraries": /var/task, then /opt/python, then the runtime's libraries).
* the environment the packaged template gives the function (its ``Environment.Variables``, with
  ``Ref``/``Fn::Sub`` resolved to the local table and bucket), what Lambda itself sets
  (AWS_REGION, AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_MEMORY_SIZE, ...), and the local
  endpoints; Lambda's Invoke API (the export's fan-out) is a local recorder.
* a context object with Lambda's attributes.

Installs are cached by versions in ``$CLICKSTREAM_CACHE_DIR`` (default ``~/.cache/clickstream``,
outside the clone, so a fresh clone on the same machine, as CI makes, reuses them; the
repository's gitignored ``.cache/`` when the home directory is not writable). Only a first run
on a machine downloads from PyPI.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chalicelib.lake import codecs
from deploy.package import APP_DIR, FUNCTIONS, LayerPin, Package, chalice_package, layer_pin

HERE = Path(__file__).resolve().parent


def _cache_root() -> Path:
    configured = os.environ.get("CLICKSTREAM_CACHE_DIR")
    if configured:
        return Path(configured)
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clickstream"
    try:
        home.mkdir(parents=True, exist_ok=True)
        return home if os.access(home, os.W_OK) else APP_DIR / ".cache"
    except OSError:
        return APP_DIR / ".cache"


CACHE = _cache_root() / "artifact"
# Removed from the layer by build-lambda-layer.sh: the runtime provides them.
LAYER_DROPS = ("boto3", "botocore", "s3transfer", "urllib3")


# ------------------------------------------------------------------ the interpreter
def find_interpreter(python: str) -> str | None:
    """A CPython ``python`` on this machine: $CLICKSTREAM_ARTIFACT_PYTHON, PATH, then pyenv.

    ``CLICKSTREAM_ARTIFACT_PYTHON=machine`` skips the search (to exercise the fallback).
    """
    if os.environ.get("CLICKSTREAM_ARTIFACT_PYTHON") == "machine":
        return None
    candidates = [os.environ.get("CLICKSTREAM_ARTIFACT_PYTHON", ""), shutil.which(f"python{python}") or ""]
    for root in ("~/.pyenv/versions", "/root/.pyenv/versions", "/usr/local/bin", "/usr/bin"):
        pattern = os.path.join(os.path.expanduser(root), f"{python}*", "bin", f"python{python}")
        candidates += sorted(glob.glob(pattern), reverse=True)
        candidates += glob.glob(os.path.join(os.path.expanduser(root), f"python{python}"))
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-I", "-c", "import sys, pip; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == python:
            return candidate
    return None


@dataclass(frozen=True)
class Target:
    """Which Python the emulation runs, and why (the report says which it did)."""

    python: str
    interpreter: str
    deployable: bool  # the runtime the template deploys, or the machine's own Python as a fallback

    def describe(self) -> str:
        if self.deployable:
            return f"Lambda python{self.python} emulated with {self.interpreter}"
        return (
            f"no python{layer_pin().python} on this machine: packaged and ran for the machine's Python {self.python} "
            f"({self.interpreter}) through the same packaging path"
        )


def choose_target(pin: LayerPin) -> Target:
    found = find_interpreter(pin.python)
    if found:
        return Target(pin.python, found, True)
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Target(own, sys.executable, False)


# ------------------------------------------------------------------ cached installs
@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / (path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers share the cache
        yield


def _pip_install(interpreter: str, target: Path, requirements: list[str]) -> None:
    command = [
        interpreter,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        "--target",
        str(target),
        *requirements,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"installing {requirements} for the Lambda emulation failed:\n{done.stdout}{done.stderr}")


def install_layer(target: Target, pin: LayerPin) -> Path:
    """The emulated /opt/python: the pinned layer release's packages, codec rule enforced."""
    key = f"py{target.python}-awswrangler{pin.awswrangler}-pyarrow{pin.pyarrow}-codecs{'+'.join(sorted(codecs.LAYER_CODECS))}"
    layer = CACHE / key / "python"
    with _locked(CACHE / key):
        if not (layer / ".complete").exists():
            shutil.rmtree(layer, ignore_errors=True)
            _pip_install(
                target.interpreter,
                layer,
                [f"awswrangler=={pin.awswrangler}", f"pyarrow=={pin.pyarrow}", f"pandas{pin.pandas}", f"numpy{pin.numpy}"],
            )
            for entry in layer.iterdir():
                if entry.name.split("-")[0].lower() in LAYER_DROPS:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            shutil.rmtree(layer / "bin", ignore_errors=True)
            (layer / ".complete").write_text("")
        # Not cached: the shim follows chalicelib.lake.codecs and this file.
        shutil.copy(HERE / "layer_codecs.py", layer / "_emulated_layer_codecs.py")
    return layer


def install_runtime_sdk(target: Target, pin: LayerPin) -> Path:
    """The runtime's own boto3/botocore (what the layer leaves out)."""
    key = f"py{target.python}-boto3-{pin.boto3}"
    sdk = CACHE / key / "site-packages"
    with _locked(CACHE / key):
        if not (sdk / ".complete").exists():
            shutil.rmtree(sdk, ignore_errors=True)
            _pip_install(target.interpreter, sdk, [f"boto3=={pin.boto3}"])
            (sdk / ".complete").write_text("")
    return sdk


def unzip_task(package: Package, task: Path) -> Path:
    shutil.rmtree(task, ignore_errors=True)
    with zipfile.ZipFile(package.zip_path) as z:
        z.extractall(task)
    return task


# ------------------------------------------------------------------ Lambda's Invoke API, recorded
class InvokeRecorder:
    """Stands in for the Lambda service endpoint: records asynchronous Invoke calls (the fan-out)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (function, invocation type, payload)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                function = self.path.split("/functions/", 1)[-1].split("/", 1)[0]
                recorder.calls.append((function, self.headers.get("X-Amz-Invocation-Type", ""), json.loads(body or b"{}")))
                self.send_response(202)  # what Invoke answers an InvocationType=Event call
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self) -> list[tuple[str, str, dict[str, Any]]]:
        calls, self.calls = self.calls, []
        return calls

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ the functions
def resolve(value: Any, refs: dict[str, str], stack_name: str) -> str:
    """A template value with ``Ref``/``Fn::Sub`` over the stack's resources replaced by local names."""
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        text = value["Fn::Sub"].replace("${AWS::StackName}", stack_name)
        for name, local in refs.items():
            text = text.replace("${" + name + "}", local)
        if "${" in text:
            raise KeyError(f"cannot resolve {value} locally")
        return text
    if isinstance(value, (dict, list)):
        raise KeyError(f"cannot resolve {value} locally")
    return str(value)


@dataclass
class LambdaRuntime:
    """One packaged stack, ready to invoke its functions in isolated interpreters."""

    target: Target
    package: Package
    task: Path
    layer: Path
    sdk: Path
    refs: dict[str, str]  # logical ID / parameter -> local value
    local_env: dict[str, str]  # endpoints of the local stack and the Invoke recorder
    stack_name: str = "clickstream-prod"
    region: str = "us-east-1"
    work: Path = field(default_factory=lambda: CACHE / "runs")

    def function(self, name: str) -> dict[str, Any]:
        logical, _ = FUNCTIONS[name]
        return self.package.template()["Resources"][logical]["Properties"]

    def environment(self, name: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """What the function's process environment is in Lambda, pointed at the local stack."""
        props = self.function(name)
        env = {var: resolve(value, self.refs, self.stack_name) for var, value in props["Environment"]["Variables"].items()}
        function_name = resolve(props["FunctionName"], self.refs, self.stack_name)
        env.update(
            {
                # Set by Lambda (docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_LAMBDA_FUNCTION_NAME": function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props.get("MemorySize", 128)),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{props['Runtime']}",
                "LAMBDA_TASK_ROOT": str(self.task),
                "LAMBDA_RUNTIME_DIR": str(self.sdk),
                "TZ": ":UTC",
                "LANG": "en_US.UTF-8",
                "AWS_ACCESS_KEY_ID": "S3RVER",
                "AWS_SECRET_ACCESS_KEY": "S3RVER",
                "AWS_SESSION_TOKEN": "local",
                **self.local_env,
                **(overrides or {}),
            }
        )
        return env

    def invoke(
        self,
        name: str,
        events: list[Any],
        overrides: dict[str, str] | None = None,
        *,
        task: Path | None = None,
        handler: str | None = None,
    ) -> list[dict[str, Any]]:
        """Invoke function ``name`` once per event, in order, in one warm isolated process.

        Returns one dict per event: ``{"result": ...}`` or ``{"error": type, "message": ..., "trace": ...}``;
        the last one also says which heavy modules the process had imported (``"modules"``) and
        where pyarrow, boto3, orjson and chalicelib came from (``"origins"``). ``task`` and
        ``handler`` replace the unzipped package and the template's handler (the emulation's own tests).
        """
        props = self.function(name)
        task = task or self.task
        self.work.mkdir(parents=True, exist_ok=True)
        spec = self.work / f"{name}-{os.getpid()}-{threading.get_ident()}.json"
        out = spec.with_suffix(".out.json")
        spec.write_text(
            json.dumps(
                {
                    "handler": handler or props["Handler"],
                    "events": events,
                    "out": str(out),
                    # Only a function the template gives the layer gets /opt/python (the API has none).
                    "path": [str(task), *([str(self.layer)] if props.get("Layers") else []), str(self.sdk)],
                    "layer_codecs": sorted(codecs.LAYER_CODECS) if props.get("Layers") else None,
                    "function_name": resolve(props["FunctionName"], self.refs, self.stack_name),
                    "memory_mb": props.get("MemorySize", 128),
                    "timeout_s": props.get("Timeout", 3),
                    "region": self.region,
                }
            )
        )
        command = [self.target.interpreter, "-I", "-S", str(HERE / "bootstrap.py"), str(spec)]
        env = {**self.environment(name, overrides), "LAMBDA_TASK_ROOT": str(task)}
        done = subprocess.run(command, env=env, cwd=task, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"{name} could not start in the Lambda emulation (exit {done.returncode}):\n{done.stdout}{done.stderr}"
            )
        results = json.loads(out.read_text())
        spec.unlink()
        out.unlink()
        return results


def build(tmp: Path, refs: dict[str, str], local_env: dict[str, str], stage: str = "prod") -> LambdaRuntime:
    pin = layer_pin()
    target = choose_target(pin)
    package = chalice_package(stage, tmp / "package", python=target.python, deployable=target.deployable)
    return LambdaRuntime(
        target,
        package,
        unzip_task(package, tmp / "task"),
        install_layer(target, pin),
        install_runtime_sdk(target, pin),
        refs,
        local_env,
        stack_name=f"clickstream-{stage}",
        work=tmp / "runs",
    )


# ------------------------------------------------------------------ events
def api_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    source_ip: str = "203.0.113.9",
    stage: str = "v1",
) -> dict[str, Any]:
    """An API Gateway REST API Lambda proxy integration event (payload format 1.0).

    Shape: docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
    "Input format of a Lambda function for proxy integration"; chalice routes on
    ``requestContext.resourcePath``/``httpMethod`` and reads ``headers``, ``queryStringParameters``,
    ``pathParameters``, ``stageVariables``, ``body`` and ``isBase64Encoded`` (chalice/app.py,
    ``Chalice.__call__`` and ``Request``; aws/chalice tests/unit/test_app.py ``create_event``).
    """
    import base64

    headers = {
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        "X-Forwarded-For": source_ip,
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    raw = body.encode() if isinstance(body, str) else body
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "r1",
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": f"req-{os.urandom(6).hex()}",
            "extendedRequestId": "ext",
            "requestTime": "01/Dec/2026:06:00:00 +0000",
            "requestTimeEpoch": 1_796_104_800_000,
            "protocol": "HTTP/1.1",
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent"), "caller": None, "user": None},
        },
        "body": (base64.b64encode(raw).decode() if base64_body else raw.decode()) if raw is not None else None,
        "isBase64Encoded": base64_body,
    }


def scheduled_event(rule_arn: str = "arn:aws:events:us-east-1:123456789012:rule/clickstream-prod-export") -> dict[str, Any]:
    """An EventBridge scheduled event (docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html,
    and the "Scheduled Event" sample of EventBridge's event patterns)."""
    return {
        "version": "0",
        "id": os.urandom(16).hex(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-01T06:00:00Z",
        "region": "us-east-1",
        "resources": [rule_arn],
        "detail": {},
    }
