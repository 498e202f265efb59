"""Query parameters: their types, how the CLI spells them, how they are checked and bound.

The contract's names have fixed types; any other ``:name`` in ad-hoc SQL is a string.
Values are validated here once, then bound: as Python values on DuckDB, and as Trino
literals in Athena's ExecutionParameters (Athena takes each execution parameter as the text
of a literal: strings in single quotes, booleans and numbers bare, arrays as ARRAY[...]).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Iterable, Literal, Mapping, Sequence

from clickstream.lake.exceptions import ParamError

ParamType = Literal["app_id", "date", "boolean", "steps", "string"]

TYPES: dict[str, ParamType] = {
    "app_id": "app_id",
    "date_from": "date",
    "date_to": "date",
    "include_bots": "boolean",
    "steps": "steps",
    "rolled_through": "date",
    "months_through": "date",
}
# rolled_through: the last day the rollup tables hold (etl/blocks/session_rows.sql);
# months_through: the last day the month rows (rollup_visitor_months) may be read for, at most
# rolled_through (docs/lake.md, *The month grain*). The engine fills both in from the lake's
# rollup_state; these defaults (nothing rolled up) read raw events only.
NOTHING_ROLLED = "0001-01-01"
DEFAULTS: dict[str, Any] = {"include_bots": False, "rolled_through": NOTHING_ROLLED, "months_through": NOTHING_ROLLED}
# Parameters the engine supplies (not a filter of the dashboard spec), and the grain of the
# rollups each is the bound of (chalicelib.export.rollups.values_of).
ENGINE_FILLED = ("rolled_through", "months_through")
GRAINS: dict[str, Literal["days", "months"]] = {"rolled_through": "days", "months_through": "months"}
MAX_STEPS = 10  # etl/queries/funnel.sql unnests sequence(1, 10)
# chalicelib.store.apps accepts the same app ids; anything else cannot be in the lake.
_APP_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["app_id=demo", "steps=/demo,LIKE_WOOD"]`` -> a dict; the CLI's ``--param`` values."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError(f"--param {pair!r}: write NAME=VALUE")
        out[name.strip()] = value
    return out


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ParamError(f"{name}={value!r}: expected true or false")


def _date(name: str, value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ParamError(f"{name}={value!r}: expected a date YYYY-MM-DD") from None


def _steps(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        steps = json.loads(text) if text.startswith("[") else [s.strip() for s in text.split(",")]
    else:
        steps = list(value)
    if not 1 <= len(steps) <= MAX_STEPS or not all(isinstance(s, str) and 0 < len(s) <= 128 for s in steps):
        raise ParamError(f"{name}: expected 1 to {MAX_STEPS} non-empty steps (page paths or event names), comma-separated")
    return steps


def convert(name: str, value: Any) -> Any:
    kind = TYPES.get(name, "string")
    if kind == "boolean":
        return _boolean(name, value)
    if kind == "date":
        return _date(name, value)
    if kind == "steps":
        return _steps(name, value)
    text = str(value)
    if kind == "app_id" and not _APP_ID.fullmatch(text):
        raise ParamError(f"{name}={text!r}: an app id is 1 to 48 characters of a-z 0-9 - (see `clickstream apps list`)")
    return text


def bind(needed: Iterable[str], given: Mapping[str, Any]) -> dict[str, Any]:
    """The values for exactly the parameters a statement uses, checked and converted."""
    needed = list(needed)
    unknown = sorted(set(given) - set(needed))
    if unknown:
        raise ParamError(f"unknown parameter(s) {', '.join(unknown)}; this SQL takes: {', '.join(needed) or 'none'}")
    missing = [n for n in needed if n not in given and n not in DEFAULTS]
    if missing:
        raise ParamError(f"missing parameter(s): {', '.join(missing)} (--param NAME=VALUE)")
    values = {n: convert(n, given[n] if n in given else DEFAULTS[n]) for n in needed}
    if "date_from" in values and "date_to" in values and values["date_from"] > values["date_to"]:
        raise ParamError(f"date_from {values['date_from']} is after date_to {values['date_to']}")
    return values


def athena_literal(value: Any) -> str:
    """The Trino literal Athena's ExecutionParameters expect for one bound value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(athena_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"
