"""The lake's one column list (chalicelib/lake/columns.py) against every other place that names columns.

The enrichment's row, the Athena DDL in etl/tables and the Glue tables in deploy/resources.yaml
are written by hand for readability; these tests fail as soon as one of them drifts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from chalice.package import YAMLTemplateSerializer

from chalicelib.collect.enrich import enrich, request_facts
from chalicelib.collect.validate import validate_event
from chalicelib.lake.columns import COLUMNS, EVENT_COLUMNS, Column
from chalicelib.lake.rows import KEYS, LONG, decode_row, encode_row
from chalicelib.lake.schema import JSON_SCHEMAS, SCHEMAS

ROOT = Path(__file__).resolve().parents[2]
HIVE = {"string": "string", "int32": "int", "int64": "bigint", "float64": "double", "bool": "boolean", "time": "timestamp"}
PARTITION_COLUMNS = {"app_id"}  # a path segment in Athena and Glue, a file column for DuckDB and pyarrow


def _hive(columns: tuple[Column, ...]) -> list[tuple[str, str]]:
    return [(c.name, HIVE[c.kind]) for c in columns if c.name not in PARTITION_COLUMNS]


def test_enrich_writes_exactly_the_event_columns_in_order() -> None:
    event = validate_event({"event_id": "e1", "event_type": "page_view", "timestamp": 1_760_000_000_000, "anonymous_id": "a"})
    facts = request_facts("demo", 1_760_000_000_500, "81.2.69.142", {"user-agent": "curl/8"})
    assert list(enrich(event, facts, 1_760_000_000_000)) == [c.name for c in EVENT_COLUMNS]


@pytest.mark.parametrize("dataset", sorted(COLUMNS))
def test_names_keys_and_schemas_come_from_the_column_list(dataset: str) -> None:
    columns = COLUMNS[dataset]
    names = [c.name for c in columns]
    assert list(KEYS[dataset]) == names and SCHEMAS[dataset].names == names
    assert JSON_SCHEMAS[dataset].names == [c.short for c in columns]
    assert len(set(KEYS[dataset].values())) == len(names), "two columns share a short key"
    assert LONG[dataset] == {c.short: c.name for c in columns}
    row = {name: None for name in names}
    assert decode_row(encode_row(row, dataset), dataset) == row


@pytest.mark.parametrize("dataset", sorted(COLUMNS))
def test_athena_ddl_lists_the_columns_in_order(dataset: str) -> None:
    sql = (ROOT / "etl" / "tables" / f"{dataset}.sql").read_text()
    body = sql.split("(", 1)[1].split("\n)", 1)[0]
    declared = re.findall(r"`(\w+)`\s+(\w+)", body)
    assert declared == _hive(COLUMNS[dataset])
    assert re.search(r"PARTITIONED BY \(`app_id` string, `dt` string\)", sql)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    path = ROOT / "deploy" / "resources.yaml"
    return YAMLTemplateSerializer().load_template(path.read_text(), str(path))


@pytest.mark.parametrize("logical,dataset", [("EventsGlueTable", "events"), ("RejectedEventsGlueTable", "rejected_events")])
def test_glue_tables_hold_the_columns(template: dict[str, Any], logical: str, dataset: str) -> None:
    """By name: Athena maps Parquet columns by name, so the Glue order is free (rejected_events' differs)."""
    table = template["Resources"][logical]["Properties"]["TableInput"]
    glue = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert glue == dict(_hive(COLUMNS[dataset]))
