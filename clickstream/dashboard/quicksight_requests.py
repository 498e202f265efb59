"""The QuickSight side of the spec, as plain request dictionaries (no I/O).

Every dataset is the spec's SQL as Athena custom SQL in DIRECT_QUERY mode, its `:named`
parameters turned into QuickSight dataset parameters (`<<$name>>`); the analysis declares
one parameter per filter, mapped onto every dataset that uses it, with a control on the
sheet. So a filter change re-runs the same SQL on Athena, as the local page does on DuckDB.

How a bound parameter becomes QuickSight SQL (QuickSight substitutes a literal for
`<<$name>>`; a multi-valued parameter becomes a comma-separated list of literals):

    spec type     dataset parameter              SQL text
    string        String, single value           <<$appId>>
    date          DateTime, day granularity      substr(CAST(<<$dateFrom>> AS varchar), 1, 10)
    boolean       Integer 0/1                    (<<$includeBots>> = 1)
    string_list   String, multi-valued           ARRAY[<<$steps>>]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlglot
from sqlglot import exp

from chalicelib.export import rollups
from clickstream.dashboard.spec import SQL_DIALECT, Dataset, Field, Panel, Parameter, Spec, placeholder_spans
from clickstream.lake.params import DEFAULTS, ENGINE_FILLED, athena_literal

SHEET_ID = "overview"
# Fixed dataset-level defaults: only used when QuickSight previews a dataset alone (the
# analysis always maps its own parameters); fixed so that re-deploying changes nothing.
DATASET_DATE_DEFAULT = datetime(2025, 1, 1, tzinfo=timezone.utc)

QS_COLUMN_TYPES = {"string": "STRING", "integer": "INTEGER", "decimal": "DECIMAL", "date": "DATETIME", "boolean": "BOOLEAN"}
NUMERIC_AGGS = {"sum": "SUM", "avg": "AVERAGE", "min": "MIN", "max": "MAX", "count": "COUNT", "distinct_count": "DISTINCT_COUNT"}

OWNER_ACTIONS = {
    "data_source": [
        "quicksight:DescribeDataSource",
        "quicksight:DescribeDataSourcePermissions",
        "quicksight:PassDataSource",
        "quicksight:UpdateDataSource",
        "quicksight:DeleteDataSource",
        "quicksight:UpdateDataSourcePermissions",
    ],
    "data_set": [
        "quicksight:DescribeDataSet",
        "quicksight:DescribeDataSetPermissions",
        "quicksight:PassDataSet",
        "quicksight:DescribeIngestion",
        "quicksight:ListIngestions",
        "quicksight:UpdateDataSet",
        "quicksight:DeleteDataSet",
        "quicksight:CreateIngestion",
        "quicksight:CancelIngestion",
        "quicksight:UpdateDataSetPermissions",
    ],
    "analysis": [
        "quicksight:RestoreAnalysis",
        "quicksight:UpdateAnalysisPermissions",
        "quicksight:DeleteAnalysis",
        "quicksight:DescribeAnalysisPermissions",
        "quicksight:QueryAnalysis",
        "quicksight:DescribeAnalysis",
        "quicksight:UpdateAnalysis",
    ],
    "dashboard": [
        "quicksight:DescribeDashboard",
        "quicksight:ListDashboardVersions",
        "quicksight:UpdateDashboardPermissions",
        "quicksight:QueryDashboard",
        "quicksight:UpdateDashboard",
        "quicksight:DeleteDashboard",
        "quicksight:DescribeDashboardPermissions",
        "quicksight:UpdateDashboardPublishedVersion",
    ],
}


@dataclass(frozen=True)
class Names:
    """Resource ids of one stage: clickstream-<stage>[-<dataset>]."""

    spec_id: str
    stage: str

    @property
    def prefix(self) -> str:
        return f"{self.spec_id}-{self.stage}"

    @property
    def data_source(self) -> str:
        return f"{self.prefix}-athena"

    def data_set(self, dataset: str) -> str:
        return f"{self.prefix}-{dataset.replace('_', '-')}"

    @property
    def analysis(self) -> str:
        return self.prefix

    @property
    def dashboard(self) -> str:
        return self.prefix


def qs_name(param: str) -> str:
    """QuickSight parameter names are alphanumeric: app_id -> appId."""
    head, *rest = param.split("_")
    return head + "".join(w.capitalize() for w in rest)


_SQL_FOR = {
    "string": "<<${}>>",
    "date": "substr(CAST(<<${}>> AS varchar), 1, 10)",  # 'YYYY-MM-DD', however QuickSight writes the instant
    "boolean": "(<<${}>> = 1)",
    "string_list": "ARRAY[<<${}>>]",
}


def placeholders(sql: str) -> list[str]:
    """The :named parameters a query binds, in order of first use (not those the engine fills
    in; but app_id wherever rolled_through or months_through is used, which ROLLED_THROUGH_SQL
    reads by app)."""
    names = [name for _, _, name in placeholder_spans(sql)]
    used = [n for n in names if n not in ENGINE_FILLED]
    if any(n in ENGINE_FILLED for n in names) and "app_id" not in used:
        used.insert(0, "app_id")
    return list(dict.fromkeys(used))


# :rolled_through in a dataset's SQL: QuickSight has no step that runs before a query, so the
# custom SQL reads the export's published state itself, a scalar subquery over one tiny file
# per app (chalicelib/export/rollups.py: the least value of the app's rollup_state files; none:
# raw events every day). A scalar subquery is allowed wherever a literal is, and QuickSight
# substitutes <<$appId>> in the custom SQL text of a direct-query dataset before Athena sees it,
# wherever it appears (https://docs.aws.amazon.com/quicksight/latest/user/dataset-parameters.html,
# .../dataset-parameters-insert-parameter.html; at most 128 distinct parameters per query);
# the text may be 168,000 characters (CustomSql.SqlQuery in
# https://docs.aws.amazon.com/quicksight/latest/APIReference/API_CustomSql.html). Athena engine 3
# (Trino) can also prune partitions by such a value at run time (dynamic filtering,
# https://trino.io/docs/current/admin/dynamic-filtering.html); where it does not, the answer is
# the same and only the bytes scanned grow, still bounded by the date range's partitions.
# rollups.least in SQL: raw events only unless a state vouches for this release's set of rollups.
# :months_through the same way, over rollups.values_of(..., "months"): a state's months_through
# (none, a state of a release before it: nothing), a hold's rolled_through.
ROLLED_THROUGH_SQL = (
    "(SELECT CASE WHEN count_if(vouches = {tag}) = 0 THEN {nothing} ELSE min({bound}) END"
    " FROM {database}.rollup_state WHERE app_id = {app} AND (vouches IS NULL OR vouches = {tag}))"
)
_BOUNDS = {
    "rolled_through": "rolled_through",
    "months_through": "CASE WHEN vouches IS NULL THEN rolled_through ELSE coalesce(months_through, {nothing}) END",
}


def rolled_through_sql(database: str, name: str = "rolled_through") -> str:
    """The subquery standing for the engine-filled parameter ``name`` in a dataset's SQL."""
    nothing = athena_literal(DEFAULTS[name])
    return ROLLED_THROUGH_SQL.format(
        bound=_BOUNDS[name].format(nothing=nothing),
        nothing=nothing,
        tag=athena_literal(rollups.STATE_TAG),
        database=database,
        app=_SQL_FOR["string"].format(qs_name("app_id")),
    )


def athena_sql(sql: str, spec: Spec, database: str) -> str:
    """The query as QuickSight custom SQL: the file's own Athena text, with each table it reads
    qualified by the Glue database (custom SQL has no default schema) and each parameter
    written the QuickSight way. Edits are made in the text, so comments and layout survive."""
    tree = sqlglot.parse_one(sql, read=SQL_DIALECT)
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    edits = [
        (t.this.meta["start"], t.this.meta["start"] - 1, f"{database}.")
        for t in tree.find_all(exp.Table)
        if not t.db and t.name and t.name not in ctes
    ]
    for start, end, name in placeholder_spans(sql):
        if name in ENGINE_FILLED:
            edits.append((start, end, rolled_through_sql(database, name)))
            continue
        param = spec.parameter(name)
        edits.append((start, end, _SQL_FOR[param.type].format(qs_name(param.name))))
    for start, end, text in sorted(edits, reverse=True):
        sql = sql[:start] + text + sql[end + 1 :]
    return sql


def _dataset_parameter(p: Parameter) -> dict[str, Any]:
    name = qs_name(p.name)
    base = {"Id": name, "Name": name}
    if p.type == "date":
        return {
            "DateTimeDatasetParameter": {
                **base,
                "ValueType": "SINGLE_VALUED",
                "TimeGranularity": "DAY",
                "DefaultValues": {"StaticValues": [DATASET_DATE_DEFAULT]},
            }
        }
    if p.type == "boolean":
        return {
            "IntegerDatasetParameter": {
                **base,
                "ValueType": "SINGLE_VALUED",
                "DefaultValues": {"StaticValues": [int(bool(p.default))]},
            }
        }
    multi = p.type == "string_list"
    values = list(p.default) if multi else [str(p.default)]
    return {
        "StringDatasetParameter": {
            **base,
            "ValueType": "MULTI_VALUED" if multi else "SINGLE_VALUED",
            "DefaultValues": {"StaticValues": values},
        }
    }


def data_source_request(names: Names, workgroup: str) -> dict[str, Any]:
    return {
        "DataSourceId": names.data_source,
        "Name": f"Clickstream lake ({names.stage})",
        "Type": "ATHENA",
        "DataSourceParameters": {"AthenaParameters": {"WorkGroup": workgroup}},
    }


def geo_roles(spec: Spec, dataset: str) -> dict[str, str]:
    """Columns a geo panel plots: QuickSight needs them tagged LATITUDE/LONGITUDE in the dataset."""
    roles: dict[str, str] = {}
    for p in spec.panels:
        if p.visual == "geo" and p.dataset == dataset:
            roles[p.dimensions[0].column] = "LATITUDE"
            roles[p.dimensions[1].column] = "LONGITUDE"
        if p.visual == "filled_map" and p.dataset == dataset:
            roles[p.dimensions[0].column] = "COUNTRY"  # ISO 3166 alpha-2, as CloudFront sends it
    return roles


def data_set_request(spec: Spec, dataset: Dataset, names: Names, data_source_arn: str, database: str) -> dict[str, Any]:
    sql = dataset.sql()
    used = placeholders(sql)
    request: dict[str, Any] = {
        "DataSetId": names.data_set(dataset.name),
        "Name": f"Clickstream {dataset.name.replace('_', ' ')} ({names.stage})",
        "PhysicalTableMap": {
            "sql": {
                "CustomSql": {
                    "DataSourceArn": data_source_arn,
                    "Name": dataset.name,
                    "SqlQuery": athena_sql(sql, spec, database),
                    "Columns": [{"Name": c, "Type": QS_COLUMN_TYPES[t]} for c, t in dataset.columns.items()],
                }
            }
        },
        "ImportMode": "DIRECT_QUERY",  # dataset parameters need direct query; Athena bills per query
    }
    if used:
        request["DatasetParameters"] = [_dataset_parameter(spec.parameter(n)) for n in used]
    roles = geo_roles(spec, dataset.name)
    if roles:
        tags = [{"TagColumnOperation": {"ColumnName": c, "Tags": [{"ColumnGeographicRole": r}]}} for c, r in roles.items()]
        request["LogicalTableMap"] = {
            "main": {"Alias": dataset.name, "Source": {"PhysicalTableId": "sql"}, "DataTransforms": tags}
        }
    return request


def permissions(principal: str, kind: str) -> list[dict[str, Any]]:
    return [{"Principal": principal, "Actions": sorted(OWNER_ACTIONS[kind])}]


# ---------------------------------------------------------------- analysis definition


def _col(panel: Panel, column: str) -> dict[str, str]:
    return {"DataSetIdentifier": panel.dataset, "ColumnName": column}


def _fid(panel: Panel, f: Field) -> str:
    return f"{panel.id}.{f.column}"


def _number_format(fmt: str) -> dict[str, Any] | None:
    sep = {"ThousandsSeparator": {"Symbol": "COMMA", "Visibility": "VISIBLE"}, "DecimalSeparator": "DOT"}
    if fmt == "percent":
        return {
            "FormatConfiguration": {"PercentageDisplayFormatConfiguration": {"DecimalPlacesConfiguration": {"DecimalPlaces": 1}}}
        }
    places = {"integer": 0, "duration": 0, "decimal": 2}.get(fmt)
    if places is None:
        return None
    conf: dict[str, Any] = {"SeparatorConfiguration": sep, "DecimalPlacesConfiguration": {"DecimalPlaces": places}}
    if fmt == "duration":
        conf["Suffix"] = " s"
    return {"FormatConfiguration": {"NumberDisplayFormatConfiguration": conf}}


def dimension(spec: Spec, panel: Panel, f: Field) -> dict[str, Any]:
    ctype = spec.datasets[panel.dataset].columns[f.column]
    base = {"FieldId": _fid(panel, f), "Column": _col(panel, f.column)}
    if ctype == "date":
        return {"DateDimensionField": {**base, "DateGranularity": "DAY"}}
    if ctype in ("integer", "decimal"):
        return {"NumericalDimensionField": base}
    return {"CategoricalDimensionField": base}


def measure(spec: Spec, panel: Panel, f: Field) -> dict[str, Any]:
    ctype = spec.datasets[panel.dataset].columns[f.column]
    base = {"FieldId": _fid(panel, f), "Column": _col(panel, f.column)}
    if ctype in ("integer", "decimal"):
        fmt = _number_format(f.format)
        out = {**base, "AggregationFunction": {"SimpleNumericalAggregation": NUMERIC_AGGS[f.agg]}}
        return {"NumericalMeasureField": {**out, "FormatConfiguration": fmt} if fmt else out}
    if ctype == "date":
        return {"DateMeasureField": {**base, "AggregationFunction": NUMERIC_AGGS[f.agg]}}
    return {"CategoricalMeasureField": {**base, "AggregationFunction": NUMERIC_AGGS[f.agg]}}


def _sort(spec: Spec, panel: Panel) -> list[dict[str, Any]]:
    s = panel.sort
    if s is None:
        return []
    direction = s.direction.upper()
    for f in (*panel.dimensions, *panel.measures):
        if f.column == s.column and (s.agg == "none" or f.agg == s.agg):
            return [{"FieldSort": {"FieldId": _fid(panel, f), "Direction": direction}}]
    ctype = spec.datasets[panel.dataset].columns[s.column]
    agg = (
        {"NumericalAggregationFunction": {"SimpleNumericalAggregation": NUMERIC_AGGS[s.agg]}}
        if ctype in ("integer", "decimal")
        else {"CategoricalAggregationFunction": NUMERIC_AGGS[s.agg]}
    )
    return [{"ColumnSort": {"SortBy": _col(panel, s.column), "Direction": direction, "AggregationFunction": agg}}]


def _label(text: str) -> dict[str, Any]:
    return {"Visibility": "VISIBLE", "AxisLabelOptions": [{"CustomLabel": text}]}


def _limit(panel: Panel) -> dict[str, Any]:
    return {"ItemsLimit": panel.limit, "OtherCategories": "EXCLUDE"} if panel.limit else {}


def visual(spec: Spec, panel: Panel) -> dict[str, Any]:
    dims = [dimension(spec, panel, f) for f in panel.dimensions]
    values = [measure(spec, panel, f) for f in panel.measures]
    head: dict[str, Any] = {
        "VisualId": panel.id.replace("_", "-"),
        "Title": {"Visibility": "VISIBLE", "FormatText": {"PlainText": panel.title}},
    }
    if panel.description:
        head["Subtitle"] = {"Visibility": "VISIBLE", "FormatText": {"PlainText": panel.description}}
    sort, limit = _sort(spec, panel), _limit(panel)
    dim_label = panel.dimensions[0].label if panel.dimensions else ""
    value_label = panel.measures[0].label if panel.measures else ""
    if panel.visual == "kpi":
        conf: dict[str, Any] = {"FieldWells": {"Values": values}}
        if panel.target:
            # The previous period as the target: QuickSight shows the value and its change
            # (percent, or for rates the difference, i.e. percentage points).
            conf["FieldWells"]["TargetValues"] = [measure(spec, panel, panel.target)]
            conf["KPIOptions"] = {
                "Comparison": {"ComparisonMethod": "DIFFERENCE" if panel.comparison == "points" else "PERCENT_DIFFERENCE"},
                "PrimaryValueDisplayType": "ACTUAL",
                "SecondaryValue": {"Visibility": "VISIBLE"},
                "TrendArrows": {"Visibility": "VISIBLE"},
            }
        return {"KPIVisual": {**head, "ChartConfiguration": conf}}
    if panel.visual == "line":
        conf = {
            "FieldWells": {"LineChartAggregatedFieldWells": {"Category": dims, "Values": values}},
            "XAxisLabelOptions": _label(dim_label),
            "PrimaryYAxisLabelOptions": _label(panel.measures[0].label if len(values) == 1 else "count"),
            "Legend": {"Visibility": "VISIBLE", "Position": "BOTTOM"},
        }
        return {"LineChartVisual": {**head, "ChartConfiguration": conf}}
    if panel.visual == "bar":
        conf = {
            "FieldWells": {"BarChartAggregatedFieldWells": {"Category": dims, "Values": values}},
            "Orientation": "HORIZONTAL",
            "CategoryLabelOptions": _label(dim_label),
            "ValueLabelOptions": _label(value_label),
            "DataLabels": {"Visibility": "VISIBLE"},
        }
        if sort or limit:
            conf["SortConfiguration"] = {k: v for k, v in (("CategorySort", sort), ("CategoryItemsLimit", limit)) if v}
        return {"BarChartVisual": {**head, "ChartConfiguration": conf}}
    if panel.visual == "table":
        conf = {
            "FieldWells": {"TableAggregatedFieldWells": {"GroupBy": dims, "Values": values}},
            "FieldOptions": {
                "SelectedFieldOptions": [
                    {"FieldId": _fid(panel, f), "CustomLabel": f.label} for f in (*panel.dimensions, *panel.measures)
                ]
            },
        }
        if sort:
            conf["SortConfiguration"] = {"RowSort": sort}
        return {"TableVisual": {**head, "ChartConfiguration": conf}}
    if panel.visual == "funnel":
        conf = {
            "FieldWells": {"FunnelChartAggregatedFieldWells": {"Category": dims, "Values": values}},
            "CategoryLabelOptions": _label(dim_label),
            "ValueLabelOptions": _label(value_label),
            "DataLabelOptions": {
                "Visibility": "VISIBLE",
                "CategoryLabelVisibility": "VISIBLE",
                "MeasureLabelVisibility": "VISIBLE",
            },
        }
        if sort or limit:
            conf["SortConfiguration"] = {k: v for k, v in (("CategorySort", sort), ("CategoryItemsLimit", limit)) if v}
        return {"FunnelChartVisual": {**head, "ChartConfiguration": conf}}
    if panel.visual == "heatmap":
        conf = {
            "FieldWells": {"HeatMapAggregatedFieldWells": {"Rows": dims[:1], "Columns": dims[1:], "Values": values}},
            "RowLabelOptions": _label(dim_label),
            "ColumnLabelOptions": _label(panel.dimensions[1].label),
            "DataLabels": {"Visibility": "VISIBLE"},
        }
        if sort:
            conf["SortConfiguration"] = {"HeatMapRowSort": sort}
        return {"HeatMapVisual": {**head, "ChartConfiguration": conf}}
    if panel.visual == "geo":
        conf = {
            "FieldWells": {"GeospatialMapAggregatedFieldWells": {"Geospatial": dims, "Values": values}},
            "Legend": {"Visibility": "VISIBLE"},
            "PointStyleOptions": {"SelectedPointStyle": "POINT"},
        }
        return {"GeospatialMapVisual": {**head, "ChartConfiguration": conf}}
    if panel.visual == "filled_map":
        conf = {
            "FieldWells": {"FilledMapAggregatedFieldWells": {"Geospatial": dims, "Values": values}},
            "Legend": {"Visibility": "VISIBLE"},
        }
        return {
            "FilledMapVisual": {
                **head,
                "ChartConfiguration": conf,
                "ConditionalFormatting": {
                    "ConditionalFormattingOptions": [
                        {
                            "Shape": {
                                "FieldId": _fid(panel, panel.measures[0]),
                                "Format": {
                                    "BackgroundColor": {
                                        "Gradient": {
                                            "Expression": f"SUM({{{panel.measures[0].column}}})",
                                            "Color": {
                                                "Stops": [
                                                    {"GradientOffset": 0, "Color": "#E0E7FF"},
                                                    {"GradientOffset": 100, "Color": "#4F46E5"},
                                                ]
                                            },
                                        }
                                    }
                                },
                            }
                        }
                    ]
                },
            }
        }
    raise ValueError(panel.visual)  # spec.parse rejects unknown visuals first


def _rolling(days: int) -> str:
    return f"addDateTime({int(days)}, 'DD', truncDate('DD', now()))"


def parameter_declaration(p: Parameter, mapped: list[str], default_app: str | None) -> dict[str, Any]:
    name = qs_name(p.name)
    maps = [{"DataSetIdentifier": d, "DataSetParameterName": name} for d in mapped]
    if p.type == "date":
        return {
            "DateTimeParameterDeclaration": {
                "Name": name,
                "TimeGranularity": "DAY",
                "MappedDataSetParameters": maps,
                "DefaultValues": {"RollingDate": {"Expression": _rolling(p.default)}},
            }
        }
    if p.type == "boolean":
        return {
            "IntegerParameterDeclaration": {
                "Name": name,
                "ParameterValueType": "SINGLE_VALUED",
                "MappedDataSetParameters": maps,
                "DefaultValues": {"StaticValues": [int(bool(p.default))]},
            }
        }
    multi = p.type == "string_list"
    default = list(p.default) if multi else [default_app if p.name == "app_id" and default_app else str(p.default)]
    return {
        "StringParameterDeclaration": {
            "Name": name,
            "ParameterValueType": "MULTI_VALUED" if multi else "SINGLE_VALUED",
            "MappedDataSetParameters": maps,
            "DefaultValues": {"StaticValues": default},
        }
    }


def parameter_control(p: Parameter) -> dict[str, Any]:
    base = {"ParameterControlId": f"control-{p.name.replace('_', '-')}", "Title": p.label, "SourceParameterName": qs_name(p.name)}
    if p.type == "date":
        return {"DateTimePicker": base}
    if p.type == "boolean":
        return {"Dropdown": {**base, "Type": "SINGLE_SELECT", "SelectableValues": {"Values": ["0", "1"]}}}
    if p.type == "string_list":
        return {"TextArea": {**base, "Delimiter": ","}}
    if p.choices:
        return {"Dropdown": {**base, "Type": "SINGLE_SELECT", "SelectableValues": {"Values": list(p.choices)}}}
    return {"TextField": base}


def layout(spec: Spec) -> dict[str, Any]:
    """The spec's 12-column grid on QuickSight's 36-column one."""
    elements = [
        {"ElementId": p.id.replace("_", "-"), "ElementType": "VISUAL", "ColumnSpan": p.width * 3, "RowSpan": p.height * 2}
        for p in spec.panels
    ]
    return {"Configuration": {"GridLayout": {"Elements": elements}}}


def definition(spec: Spec, data_set_arns: dict[str, str], default_app: str | None = None) -> dict[str, Any]:
    """The analysis (and dashboard) definition: one sheet, the spec's panels in order."""
    used = {d.name: placeholders(d.sql()) for d in spec.used_datasets()}
    declarations = [
        parameter_declaration(p, [d for d, names in used.items() if p.name in names], default_app)
        for p in spec.parameters
        if any(p.name in names for names in used.values())
    ]
    declared = {p.name for p in spec.parameters if any(p.name in names for names in used.values())}
    return {
        "DataSetIdentifierDeclarations": [{"Identifier": name, "DataSetArn": data_set_arns[name]} for name in used],
        "ParameterDeclarations": declarations,
        "Sheets": [
            {
                "SheetId": SHEET_ID,
                "Name": spec.title,
                "ParameterControls": [parameter_control(p) for p in spec.parameters if p.name in declared],
                "Visuals": [visual(spec, p) for p in spec.panels],
                "Layouts": [layout(spec)],
            }
        ],
        "AnalysisDefaults": {
            "DefaultNewSheetConfiguration": {
                "InteractiveLayoutConfiguration": {
                    "Grid": {
                        "CanvasSizeOptions": {
                            "ScreenCanvasSizeOptions": {"ResizeOption": "FIXED", "OptimizedViewPortWidth": "1600px"}
                        }
                    }
                },
                "SheetContentType": "INTERACTIVE",
            }
        },
    }
