"""Every dataset and column the dashboard refers to exists: in the dataset definitions sent to
QuickSight, and in the output of the SQL behind them (read with sqlglot, no engine needed)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import sqlglot
from sqlglot import exp

from clickstream.dashboard import quicksight_requests as qs
from clickstream.dashboard.spec import Spec, load
from clickstream.target import ROOT

NAMES = qs.Names("clickstream", "prod")
SOURCE = "arn:aws:quicksight:us-east-1:123456789012:datasource/x"


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load()


@pytest.fixture(scope="module")
def requests(spec: Spec) -> dict[str, dict[str, Any]]:
    return {d.name: qs.data_set_request(spec, d, NAMES, SOURCE, "db") for d in spec.used_datasets()}


def column_refs(node: Any) -> Iterator[dict[str, str]]:
    """Every ColumnIdentifier ({DataSetIdentifier, ColumnName}) anywhere in a definition."""
    if isinstance(node, dict):
        if {"DataSetIdentifier", "ColumnName"} <= set(node):
            yield node
        for value in node.values():
            yield from column_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from column_refs(value)


def output_columns(sql: str) -> list[str]:
    select = sqlglot.parse_one(sql, read="athena")
    assert isinstance(select, exp.Query), "a panel query is one SELECT"
    assert not any(isinstance(s, exp.Star) for s in select.selects), "name the output columns: QuickSight declares them"
    return select.named_selects


def relations() -> set[str]:
    """What a query may read: the tables of etl/tables and the views of etl/views."""
    tables = {p.stem for p in (ROOT / "etl" / "tables").glob("*.sql")}
    return tables | {p.stem for p in (ROOT / "etl" / "views").glob("*.sql")}


def test_every_column_a_visual_uses_is_a_column_of_a_declared_dataset(spec, requests):
    arns = {name: f"arn:aws:quicksight:us-east-1:1:dataset/{r['DataSetId']}" for name, r in requests.items()}
    definition = qs.definition(spec, arns)
    declared = {d["Identifier"] for d in definition["DataSetIdentifierDeclarations"]}
    columns = {name: {c["Name"] for c in r["PhysicalTableMap"]["sql"]["CustomSql"]["Columns"]} for name, r in requests.items()}
    refs = list(column_refs(definition))
    assert len(refs) > len(spec.panels)  # the walk does find them
    for ref in refs:
        assert ref["DataSetIdentifier"] in declared, ref
        assert ref["ColumnName"] in columns[ref["DataSetIdentifier"]], ref


def test_declared_columns_are_what_the_sql_returns_in_order(spec):
    for dataset in spec.used_datasets():
        assert output_columns(dataset.sql()) == list(dataset.columns), f"etl/queries/{dataset.name}.sql"


def test_the_queries_read_only_tables_and_views_that_exist(spec):
    known = relations()
    for dataset in spec.used_datasets():
        tree = sqlglot.parse_one(dataset.sql(), read="athena")
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        read = {t.name for t in tree.find_all(exp.Table) if t.name not in ctes}
        assert read and read <= known, f"{dataset.name} reads {read - known}"


def test_every_parameter_the_sql_binds_is_a_filter_and_mapped_to_that_dataset(spec, requests):
    filters = {p.name for p in spec.parameters}
    for dataset in spec.used_datasets():
        assert set(qs.placeholders(dataset.sql())) <= filters, dataset.name
    arns = {name: f"arn:aws:quicksight:us-east-1:1:dataset/{r['DataSetId']}" for name, r in requests.items()}
    for declaration in qs.definition(spec, arns)["ParameterDeclarations"]:
        for mapping in next(iter(declaration.values()))["MappedDataSetParameters"]:
            names = {next(iter(p.values()))["Name"] for p in requests[mapping["DataSetIdentifier"]]["DatasetParameters"]}
            assert mapping["DataSetParameterName"] in names, mapping
