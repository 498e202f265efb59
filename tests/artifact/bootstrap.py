"""The emulated Lambda Python runtime: started as ``python3.13 -I -S bootstrap.py spec.json``.

Like Lambda's own bootstrap it puts the function code first on ``sys.path``, then the layer,
then the runtime's libraries, imports the handler once (the cold start) and calls it once per
event with a context object (a warm container). It imports nothing from the repository or the
development environment: only the standard library until ``sys.path`` is set.
"""

import importlib
import json
import sys
import time
import traceback
import uuid


class Context:
    """The attributes of Lambda's Python context object (docs.aws.amazon.com/lambda/latest/dg/python-context.html)."""

    def __init__(self, spec):
        self.function_name = spec["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{spec['region']}:123456789012:function:{self.function_name}"
        self.memory_limit_in_mb = str(spec["memory_mb"])
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2026/12/01/[$LATEST]emulated"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec["timeout_s"]

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    stdlib = [p for p in sys.path if p]  # -I -S: the standard library only
    sys.path[:] = [*spec["path"], *stdlib]
    if spec["layer_codecs"] is not None:
        import _emulated_layer_codecs  # from the emulated layer (/opt/python)

        _emulated_layer_codecs.enforce(frozenset(spec["layer_codecs"]))
    results = []
    try:
        module_name, attr = spec["handler"].rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # noqa: BLE001 - Runtime.ImportModuleError in Lambda: every invocation fails
        failure = {
            "error": "Runtime.ImportModuleError",
            "message": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(),
        }
        results = [failure for _ in spec["events"]]
        handler = None
    for event in spec["events"] if handler else ():
        try:
            results.append({"result": handler(event, Context(spec))})
        except Exception as exc:  # noqa: BLE001 - Lambda reports any error of the handler
            results.append({"error": type(exc).__name__, "message": str(exc), "trace": traceback.format_exc()})
    heavy = sorted({name.split(".")[0] for name in sys.modules} & {"pandas", "pyarrow", "awswrangler", "numpy"})
    origins = {name: getattr(sys.modules.get(name), "__file__", None) for name in ("pyarrow", "boto3", "orjson", "chalicelib")}
    if results:
        results[-1]["modules"] = heavy
        results[-1]["origins"] = origins
    with open(spec["out"], "w") as f:
        json.dump(results, f, default=str)


if __name__ == "__main__":
    main()
