"""The dashboard spec (quicksight/dashboard.yaml): one file, two renderers.

The spec names *datasets* (an `etl/queries/<name>.sql` panel query and its output columns)
and *panels* (a visual over one dataset: which columns are dimensions, which are measures
and how they aggregate). QuickSight gets it as datasets + an analysis definition
(clickstream/quicksight.py); the local page gets it as JSON, and the same aggregation done by
DuckDB over the dataset's rows (clickstream/dashboard/panels.py).

Loading validates everything a renderer relies on, so a typo fails here with the panel's
name rather than in QuickSight's console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping

from chalicelib.errors import ConfigError
from clickstream.target import ROOT

SPEC_FILE = ROOT / "quicksight" / "dashboard.yaml"
SQL_DIALECT = "athena"  # etl/queries/*.sql are Athena (Trino) SQL; clickstream.lake translates them for DuckDB
QUERIES_DIR = ROOT / "etl" / "queries"

ParamType = Literal["string", "date", "boolean", "string_list"]
ColumnType = Literal["string", "integer", "decimal", "date", "boolean"]
Agg = Literal["sum", "count", "distinct_count", "avg", "min", "max", "none"]
Visual = Literal["kpi", "line", "bar", "table", "funnel", "heatmap", "geo", "filled_map"]
Format = Literal["integer", "decimal", "percent", "duration", "text", "date"]

PARAM_TYPES = ("string", "date", "boolean", "string_list")
COLUMN_TYPES = ("string", "integer", "decimal", "date", "boolean")
AGGS = ("sum", "count", "distinct_count", "avg", "min", "max", "none")
FORMATS = ("integer", "decimal", "percent", "duration", "text", "date")
# visual -> (dimensions it takes, measures it takes): (min, max) each.
VISUALS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "kpi": ((0, 0), (1, 1)),
    "line": ((1, 1), (1, 5)),
    "bar": ((1, 1), (1, 1)),
    "table": ((1, 4), (0, 6)),
    "funnel": ((1, 1), (1, 1)),
    "heatmap": ((2, 2), (1, 1)),
    "geo": ((2, 2), (1, 1)),  # latitude, longitude
    "filled_map": ((1, 1), (1, 1)),  # ISO country code
}
ID = re.compile(r"[a-z][a-z0-9_]{0,40}")  # used with fullmatch
APP_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")  # the app ids chalicelib.store.apps hands out (fullmatch)
# Dates a filter may take: the lake's partitions are days of epoch time; beyond 2100 is a typo.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2100, 12, 31)


@dataclass(frozen=True)
class Parameter:
    name: str
    label: str
    type: ParamType
    default: Any  # date: days relative to today (0 = today, -27 = four weeks ago)
    choices: tuple[str, ...] = ()

    def default_value(self, today: date) -> Any:
        if self.type == "date":
            return today + timedelta(days=int(self.default))
        if self.type == "string_list":
            return list(self.default)
        return self.default


@dataclass(frozen=True)
class Dataset:
    name: str  # the query: etl/queries/<name>.sql
    columns: dict[str, ColumnType]
    compare: str | None = None  # instead of a file: this query beside its previous period (scope.compare_sql)
    base_columns: tuple[str, ...] = ()

    def sql(self, now_sql: str | None = None) -> str:
        """The SQL both engines run (etl/blocks expanded), with :named parameters still unbound."""
        from clickstream.lake import catalog

        name = self.compare or self.name
        found = catalog.query_file(name)
        if found is None:
            raise ConfigError(f"dataset {self.name!r}: no etl/queries/{name}.sql")
        if self.compare:
            from clickstream.dashboard import scope

            return scope.compare_sql(found.text, list(self.base_columns), now_sql or scope.NOW_SQL)
        return found.text

    def parameters(self) -> list[str]:
        """The :named parameters its SQL binds, in order of first use, but those the engine fills in."""
        from clickstream.lake.params import ENGINE_FILLED

        return list(dict.fromkeys(name for _, _, name in placeholder_spans(self.sql()) if name not in ENGINE_FILLED))


def placeholder_spans(sql: str) -> list[tuple[int, int, str]]:
    """(start, end inclusive, name) of each `:name` outside literals and comments, as Athena tokenizes it."""
    from sqlglot.dialects.athena import Athena
    from sqlglot.tokens import TokenType

    tokens = Athena().tokenize(sql)
    return [
        (colon.start, name.end, name.text)
        for colon, name in zip(tokens, tokens[1:])
        if colon.token_type == TokenType.COLON and name.start == colon.end + 1 and name.text.isidentifier()
    ]


@dataclass(frozen=True)
class Field:
    column: str
    label: str
    agg: Agg = "none"  # measures only
    format: Format = "text"
    labels: str | None = None  # a string_list parameter: value k is shown as the k-th item (funnel steps)


@dataclass(frozen=True)
class Sort:
    column: str
    direction: Literal["asc", "desc"] = "desc"
    agg: Agg = "none"  # how to reduce the column per group when it is not a dimension


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    visual: Visual
    dataset: str
    dimensions: tuple[Field, ...]
    measures: tuple[Field, ...]
    width: int = 6  # of 12 columns
    height: int = 4  # grid rows (62 px locally; 2 QuickSight rows each)
    sort: Sort | None = None
    limit: int | None = None
    description: str = ""
    target: Field | None = None  # kpi: the previous period's value, compared with the measure
    comparison: Literal["percent", "points"] = "percent"  # points: a rate's difference (pp)


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    parameters: tuple[Parameter, ...]
    datasets: dict[str, Dataset]
    panels: tuple[Panel, ...]
    # Funnels the export rolls up per day (chalicelib.lake.rollup.FUNNELS): fast over any range.
    # Any other steps still work, from raw events (docs/lake.md, *The modeled lake*).
    funnels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise ConfigError(f"a query binds :{name}, which is not one of the spec's parameters (the filters)")

    def defaults(self, today: date) -> dict[str, Any]:
        return {p.name: p.default_value(today) for p in self.parameters}

    def used_datasets(self) -> list[Dataset]:
        names = dict.fromkeys(p.dataset for p in self.panels)
        return [self.datasets[n] for n in names]


def _field(raw: Any, where: str, measure: bool) -> Field:
    if isinstance(raw, str):
        raw = {"column": raw}
    if not isinstance(raw, dict) or "column" not in raw:
        raise ConfigError(f"{where}: a field needs a column")
    agg = raw.get("agg", "sum" if measure else "none")
    fmt = raw.get("format", "integer" if measure else "text")
    if agg not in AGGS or (measure and agg == "none") or (not measure and agg != "none"):
        raise ConfigError(f"{where}: agg {agg!r} is not one of {AGGS} (measures aggregate, dimensions do not)")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: format {fmt!r} is not one of {FORMATS}")
    return Field(raw["column"], raw.get("label", raw["column"].replace("_", " ")), agg, fmt, raw.get("labels"))


def _panel(raw: dict[str, Any], datasets: dict[str, Dataset], params: list[Parameter]) -> Panel:
    pid = raw.get("id", "?")
    where = f"panel {pid!r}"
    if not ID.fullmatch(str(pid)):
        raise ConfigError(f"{where}: ids are lower_snake_case (they become QuickSight visual ids)")
    visual = raw.get("visual")
    if visual not in VISUALS:
        raise ConfigError(f"{where}: visual {visual!r} is not one of {tuple(VISUALS)}")
    dataset = datasets.get(raw.get("dataset", ""))
    if dataset is None:
        raise ConfigError(f"{where}: dataset {raw.get('dataset')!r} is not declared under datasets")
    dims = tuple(_field(f, where, False) for f in raw.get("dimensions", []))
    measures = tuple(_field(f, where, True) for f in raw.get("measures", []))
    (dmin, dmax), (mmin, mmax) = VISUALS[visual]
    if not (dmin <= len(dims) <= dmax and mmin <= len(measures) <= mmax):
        raise ConfigError(f"{where}: a {visual} takes {dmin}-{dmax} dimensions and {mmin}-{mmax} measures")
    sort = None
    if "sort" in raw:
        s = raw["sort"]
        sort = Sort(s["column"], s.get("direction", "desc"), s.get("agg", "none"))
        if sort.direction not in ("asc", "desc") or sort.agg not in AGGS:
            raise ConfigError(f"{where}: sort direction is asc|desc, agg one of {AGGS}")
    for col in [f.column for f in dims + measures] + ([sort.column] if sort else []):
        if col not in dataset.columns:
            raise ConfigError(f"{where}: column {col!r} is not a column of dataset {dataset.name!r}")
    names = {p.name: p for p in params}
    for f in dims:
        if f.labels and (f.labels not in names or names[f.labels].type != "string_list"):
            raise ConfigError(f"{where}: labels {f.labels!r} is not a string_list parameter")
    for m in measures:  # what QuickSight can aggregate: numbers any way, other types only by counting
        ctype = dataset.columns[m.column]
        summed = m.agg in ("sum", "avg") and ctype not in ("integer", "decimal")
        if summed or m.agg in ("min", "max") and ctype in ("string", "boolean"):
            raise ConfigError(f"{where}: cannot {m.agg} the {ctype} column {m.column!r} (declare it integer, or count it)")
    target = _field(raw["target"], where, True) if "target" in raw else None
    if target and (visual != "kpi" or target.column not in dataset.columns):
        raise ConfigError(f"{where}: a target is a kpi's column of its dataset")
    comparison = raw.get("comparison", "percent")
    if comparison not in ("percent", "points"):
        raise ConfigError(f"{where}: comparison is percent or points")
    width, height = int(raw.get("width", 6)), int(raw.get("height", 4))
    if not (1 <= width <= 12 and 1 <= height <= 12):
        raise ConfigError(f"{where}: width is 1-12 columns, height 1-12 rows")
    return Panel(
        pid,
        raw.get("title", pid),
        visual,
        dataset.name,
        dims,
        measures,
        width,
        height,
        sort,
        raw.get("limit"),
        raw.get("description", ""),
        target,
        comparison,
    )


def parse(raw: dict[str, Any]) -> Spec:
    params = []
    for p in raw.get("parameters", []):
        if p.get("type") not in PARAM_TYPES or not ID.fullmatch(p.get("name", "")):
            raise ConfigError(f"parameter {p.get('name')!r}: needs a lower_snake_case name and a type in {PARAM_TYPES}")
        params.append(Parameter(p["name"], p.get("label", p["name"]), p["type"], p.get("default"), tuple(p.get("choices", ()))))
    datasets: dict[str, Dataset] = {}
    for name, d in raw.get("datasets", {}).items():
        if "compare" in d:  # derived: the base's columns, then prev_<column> for the previous period
            base = datasets.get(d["compare"])
            if base is None or not ID.match(name):
                raise ConfigError(f"dataset {name!r}: compare names a dataset declared above it, not {d['compare']!r}")
            from clickstream.dashboard.scope import DERIVED, _uses

            ratios: dict[str, ColumnType] = {n: "decimal" for n, e in DERIVED.items() if all(c in base.columns for c in _uses(e))}
            own: dict[str, ColumnType] = {**base.columns, **ratios}
            cols: dict[str, ColumnType] = {**own, **{f"prev_{c}": t for c, t in own.items()}}
            datasets[name] = Dataset(name, cols, base.name, tuple(base.columns))
            continue
        bad = {c: t for c, t in d.get("columns", {}).items() if t not in COLUMN_TYPES}
        if not ID.fullmatch(name) or not d.get("columns") or bad:
            raise ConfigError(
                f"dataset {name!r}: a lower_snake_case query name, and columns mapped to one of {COLUMN_TYPES} (bad: {bad})"
            )
        datasets[name] = Dataset(name, dict(d["columns"]))
    panels = tuple(_panel(p, datasets, params) for p in raw.get("panels", []))
    ids = [p.id for p in panels]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"panel ids repeat: {sorted(i for i in ids if ids.count(i) > 1)}")
    funnels = {str(name): _funnel(str(name), steps) for name, steps in (raw.get("funnels") or {}).items()}
    return Spec(raw.get("id", "clickstream"), raw.get("title", "Clickstream"), tuple(params), datasets, panels, funnels)


def _funnel(name: str, steps: Any) -> tuple[str, ...]:
    from chalicelib.lake.rollup import FUNNEL_SEPARATOR
    from clickstream.lake.params import MAX_STEPS

    ok = isinstance(steps, list) and 1 <= len(steps) <= MAX_STEPS
    if not ok or not all(isinstance(s, str) and 0 < len(s) <= 128 and FUNNEL_SEPARATOR not in s for s in steps):
        raise ConfigError(f"funnel {name!r}: 1 to {MAX_STEPS} steps, each a page path or an event name of 1-128 characters")
    return tuple(steps)


@lru_cache(maxsize=4)
def load(path: Path = SPEC_FILE) -> Spec:
    import yaml  # chalice depends on PyYAML; the Lambda functions never import this module

    return parse(yaml.safe_load(path.read_text()))


def parse_params(spec: Spec, query: Mapping[str, str], today: date) -> dict[str, Any]:
    """Filter values from a query string (missing ones take their defaults). Raises ConfigError."""
    values = spec.defaults(today)
    for p in spec.parameters:
        text = query.get(p.name)
        if text is None or text == "":
            continue
        try:
            if p.type == "date":
                day = date.fromisoformat(text)
                if not FIRST_DAY <= day <= LAST_DAY:
                    raise ConfigError(
                        f"{p.name}={text} is outside {FIRST_DAY}..{LAST_DAY}, the days the lake can hold; "
                        "choose a date in that range"
                    )
                values[p.name] = day
            elif p.type == "boolean":
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                values[p.name] = text.lower() in ("true", "1")
            elif p.type == "string_list":
                values[p.name] = [s.strip() for s in text.split(",") if s.strip()]
            else:
                values[p.name] = text
        except ValueError:
            raise ConfigError(f"{p.name}={text!r} is not a valid {p.type}") from None
    if "app_id" in values and not APP_ID.fullmatch(str(values["app_id"])):
        raise ConfigError(f"app_id={values['app_id']!r} is not an app id")
    if "date_from" in values and "date_to" in values and values["date_from"] > values["date_to"]:
        raise ConfigError("date_from is after date_to")
    return values
