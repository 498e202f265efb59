"""The local dashboard's HTTP handlers and panel aggregation, over a stand-in runner.

The runner is the seam to the lake (clickstream.lake.run_query in `make run`); here it
returns fixed Arrow tables and records what it was asked, so these tests need no storage.
tests/integration/test_dashboard_lake.py runs the same handlers over a real exported lake.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Mapping

import pyarrow as pa
import pytest

from clickstream.dashboard import panels
from clickstream.dashboard.pages import handlers
from clickstream.dashboard.spec import Dataset, Spec, load, parse

TODAY = date(2025, 3, 28)


class Runner:
    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables, self.calls = tables, []

    def __call__(self, dataset: Dataset, params: Mapping[str, Any]) -> pa.Table:
        self.calls.append((dataset.name, dict(params)))
        if dataset.name not in self.tables:
            raise RuntimeError(f"{dataset.name} is down")
        return self.tables[dataset.name]


def get(pages: dict[str, Any], url: str) -> tuple[int, dict[str, str], Any]:
    path, _, query = url.partition("?")
    status, headers, body = pages["/dashboard"]("GET", path, query)
    return status, headers, json.loads(body) if headers["Content-Type"] == "application/json" else body


@pytest.fixture
def spec() -> Spec:
    return load()


def test_panels_aggregate_like_quicksight_field_wells():
    spec = parse(
        {
            "datasets": {"pages": {"columns": {"path": "string", "views": "integer", "visitor": "string"}}},
            "panels": [
                {
                    "id": "top",
                    "visual": "bar",
                    "dataset": "pages",
                    "limit": 2,
                    "sort": {"column": "views"},
                    "dimensions": ["path"],
                    "measures": [{"column": "views", "agg": "sum"}],
                },
                {
                    "id": "people",
                    "visual": "kpi",
                    "dataset": "pages",
                    "measures": [{"column": "visitor", "agg": "distinct_count"}],
                },
                {
                    "id": "avg",
                    "visual": "kpi",
                    "dataset": "pages",
                    "measures": [{"column": "views", "agg": "avg", "format": "decimal"}],
                },
            ],
        }
    )
    table = pa.table(
        {"path": ["/a", "/b", "/a", "/c", "/c", "/c"], "views": [1, 5, 2, 1, 1, 1], "visitor": ["x", "y", "x", "z", "z", None]}
    )
    out = panels.compute(spec, {}, lambda d, p: table)
    assert out["top"] == {"columns": ["path", "views"], "rows": [["/b", 5], ["/a", 3]]}  # sorted, limited
    assert out["people"]["rows"] == [[3]]
    assert out["avg"]["rows"] == [[11 / 6]]


def test_the_api_runs_each_dataset_once_and_a_failing_dataset_blanks_only_its_panels(spec):
    runner = Runner({name: pa.table({c: [1] for c in spec.datasets[name].columns}) for name in ("overview", "overview_compare")})
    status, _, body = get(
        handlers(spec, runner, lambda: [], today=lambda: TODAY), "/dashboard/api/panels?app_id=shop&include_bots=true"
    )
    assert status == 200
    assert body["params"] == {
        "app_id": "shop",
        "date_from": "2025-03-01",
        "date_to": "2025-03-28",
        "include_bots": True,
        "steps": ["/demo", "LIKE_WOOD", "CLICK_LANG"],
    }
    # each dataset once for the range (the tiles reuse the KPIs' overview_compare),
    # and the graph's daily_metrics for the previous period
    assert sorted(n for n, _ in runner.calls) == sorted([d.name for d in spec.used_datasets()] + ["daily_metrics"])
    assert "is down" in body["main"]["daily"]["error"] and body["main"]["tiles"][0]["value"] == 1
    # every other dataset is down: their panels say so, the overview's KPIs still show
    kpis = {p.id for p in spec.panels if p.dataset == "overview_compare"}
    assert all(body["panels"][k]["rows"] == [[1]] for k in kpis)
    assert all("is down" in p["error"] for k, p in body["panels"].items() if k not in kpis)
    assert set(body["panels"]) == {p.id for p in spec.panels}


@pytest.mark.parametrize(
    "query, message",
    [
        ("date_from=2025-13-01", "date_from='2025-13-01' is not a valid date"),
        ("date_from=2025-03-10&date_to=2025-03-01", "date_from is after date_to"),
        ("app_id=../etc", "is not an app id"),
        ("include_bots=maybe", "is not a valid boolean"),
    ],
)
def test_bad_filters_are_a_400_naming_the_filter(spec, query, message):
    status, _, body = get(handlers(spec, Runner({}), lambda: []), f"/dashboard/api/panels?{query}")
    assert status == 400 and message in body["error"]


def test_the_page_its_assets_and_the_spec_are_served_and_nothing_else(spec):
    pages = handlers(spec, Runner({}), lambda: ["demo", "shop"])
    status, headers, html = get(pages, "/dashboard")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"/dashboard/static/dashboard.js" in html
    for asset, ctype in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        status, headers, _ = get(pages, f"/dashboard/static/{asset}")
        assert (status, headers["Content-Type"]) == (200, ctype)
    assert get(pages, "/dashboard/static/../pages.py")[0] == 404
    assert get(pages, "/dashboard/elsewhere")[0] == 404
    assert get(pages, "/dashboard/api/apps")[2] == {"apps": ["demo", "shop"]}
    shown = get(pages, "/dashboard/api/spec")[2]
    assert [p["id"] for p in shown["panels"]] == [p.id for p in spec.panels]
    assert "sql" not in json.dumps(shown).lower()  # the page gets what to draw, not how to query


def test_the_page_uses_nothing_from_the_network():
    # The machine running `make run` may be offline: no CDN, no external fonts or scripts.
    from clickstream.dashboard.pages import STATIC

    for path in STATIC.iterdir():
        text = path.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, path.name


def test_the_panels_answer_says_which_days_hold_data_and_the_retention() -> None:
    spec = load()
    seen = []

    def coverage(app_id: str) -> dict:
        seen.append(app_id)
        return {"first_day": "2026-10-01", "last_day": "2026-11-20", "retention_days": 90}

    status, _, body = get(
        handlers(spec, Runner({}), lambda: [], today=lambda: TODAY, coverage=coverage), "/dashboard/api/panels?app_id=shop"
    )
    assert status == 200 and seen == ["shop"]
    assert body["coverage"] == {"first_day": "2026-10-01", "last_day": "2026-11-20", "retention_days": 90}
