"""QuickSight test helpers: the service model's rules botocore does not check client-side.

botocore validates types, required members and minimum lengths/values before sending; it
leaves enums, regex patterns and maximums to the service. QuickSight's ids and parameter
names have strict patterns (a dataset parameter name is `^[a-zA-Z0-9]+$`: no underscores),
so `strict_errors` checks those too, against the same model botocore uses.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator

MODEL = botocore.session.get_session().get_service_model("quicksight")


def _walk(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    meta = shape.metadata
    if shape.type_name == "structure" and isinstance(value, dict):
        for key, sub in value.items():
            if key in shape.members:
                _walk(sub, shape.members[key], f"{path}.{key}", errors)
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: {len(value)} items > max {meta['max']}")
        for i, item in enumerate(value):
            _walk(item, shape.member, f"{path}[{i}]", errors)
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, sub in value.items():
            _walk(key, shape.key, f"{path}<key>", errors)
            _walk(sub, shape.value, f"{path}[{key}]", errors)
    elif shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in {shape.enum}")
        if "pattern" in meta and not re.search(meta["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {meta['pattern']}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: length {len(value)} > max {meta['max']}")
    elif shape.type_name in ("integer", "long") and isinstance(value, int):
        if "max" in meta and value > meta["max"]:
            errors.append(f"{path}: {value} > max {meta['max']}")


def strict_errors(operation: str, params: dict[str, Any]) -> list[str]:
    """botocore's own validation report plus enum/pattern/max checks, as a list of messages."""
    shape = MODEL.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    errors = [report.generate_report()] if report.has_errors() else []
    _walk(params, shape, operation, errors)
    return errors
