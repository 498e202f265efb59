"""The dashboard fetches a page's datasets in one batch where its runner can (panels.Memo over
a BatchRunner), and one by one when the batch fails, so a failing dataset still blanks only
its own panels. tests/unit/test_lake_batch.py checks the batch's answers against each query's."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

from chalicelib.settings import from_env
from clickstream.dashboard import main as main_block
from clickstream.dashboard import panels
from clickstream.dashboard.pages import LakeRunner, handlers
from clickstream.dashboard.spec import Dataset, load
from clickstream.lake import directory_lake
from tests.rollup_helpers import APP, DAY0, DAYS, Lake, histories, page_view

TODAY = date(2025, 3, 28)


class Batching:
    """A stand-in BatchRunner: a dataset not in ``tables`` is down, and a batch that holds it
    fails as one DuckDB statement does; it declines filtered requests, to show what a runner
    leaves out runs one by one."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables
        self.batches: list[list[str]] = []
        self.calls: list[str] = []

    def __call__(self, dataset: Dataset, params: Mapping[str, Any]) -> pa.Table:
        self.calls.append(dataset.name)
        if dataset.name not in self.tables:
            raise RuntimeError(f"{dataset.name} is down")
        return self.tables[dataset.name]

    def many(self, requests: Sequence[panels.Request]) -> dict[int, pa.Table]:
        self.batches.append([d.name for d, _ in requests])
        down = [d.name for d, _ in requests if d.name not in self.tables]
        if down:
            raise RuntimeError(f"the batch failed: {down[0]} is down")
        return {i: self.tables[d.name] for i, (d, p) in enumerate(requests) if not p.get("filters")}


def tables_for(names: Sequence[str]) -> dict[str, pa.Table]:
    spec = load()
    return {n: pa.table({c: [1] for c in spec.datasets[n].columns}) for n in names}


def panels_of(run: Any, past: bool = True, extra: str = "") -> dict[str, Any]:
    """The page for the four weeks to TODAY: a period that ended (``past``) or is running."""
    day = TODAY + timedelta(days=7 if past else 0)
    now = lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)  # noqa: E731
    query = f"app_id=shop&date_from={TODAY - timedelta(days=27)}&date_to={TODAY}{extra}"
    status, _, body = handlers(load(), run, lambda: [], now=now)["/dashboard"]("GET", "/dashboard/api/panels", query)
    assert status == 200
    return json.loads(body)


def test_a_page_runs_its_datasets_in_one_batch_and_nothing_one_by_one():
    spec = load()
    names = {d.name for d in spec.used_datasets()} | {"overview"}
    run = Batching(tables_for(sorted(names)))
    body = panels_of(run)  # the shown period ended before today: no cut-off
    # one batch: every panel's dataset and the top half's (its lists are the panels' own; the
    # previous period's daily_metrics is its own), each (dataset, parameters) once
    assert len(run.batches) == 1 and run.calls == []
    assert set(main_lists()) <= {d.name for d in spec.used_datasets()}
    assert sorted(run.batches[0]) == sorted([d.name for d in spec.used_datasets()] + ["daily_metrics"])
    assert all("error" not in p for p in body["panels"].values()) and "error" not in body["main"]["daily"]


def main_lists() -> list[str]:
    return [dataset for _, dataset, *_ in main_block.LISTS.values()]


def test_a_failing_batch_falls_back_to_one_by_one_and_blanks_only_the_failing_panels():
    spec = load()
    up = sorted({d.name for d in spec.used_datasets()} - {"entry_pages"} | {"overview"})
    run = Batching(tables_for(up))
    body = panels_of(run)
    assert len(run.batches) == 1  # tried once per request, not once per block
    assert sorted(run.calls) == sorted([d.name for d in spec.used_datasets()] + ["daily_metrics"])  # each once
    blank = {p.id for p in spec.panels if p.dataset == "entry_pages"}
    assert blank and all("entry_pages is down" in body["panels"][k]["error"] for k in blank)
    assert all("error" not in p for k, p in body["panels"].items() if k not in blank)


def test_what_the_batch_leaves_out_runs_one_by_one():
    # a filtered page: the runner declines every request, each runs alone, once (daily_metrics
    # three times: the panel's, and the top half's for the running period and the previous one, both cut)
    run = Batching(tables_for(sorted({d.name for d in load().used_datasets()} | {"overview"})))
    body = panels_of(run, past=False, extra="&country=DE")
    used = [d.name for d in load().used_datasets()]
    assert len(run.batches) == 1 and sorted(run.calls) == sorted([*used, "daily_metrics", "daily_metrics"])
    assert "error" not in body["main"]["daily"] and "error" not in body["main"]["daily_previous"]


def test_a_runner_that_cannot_batch_runs_each_dataset_once():
    calls: list[str] = []

    def run(dataset: Dataset, params: Mapping[str, Any]) -> pa.Table:
        calls.append(dataset.name)
        return pa.table({c: [1] for c in dataset.columns})

    memo = main_block.memoized(run)
    memo.prefetch([(d, {}) for d in load().used_datasets()])
    assert calls == []
    panels.compute(load(), {"app_id": "shop"}, memo)
    assert sorted(calls) == sorted(d.name for d in load().used_datasets())


class OneByOne:
    """The same runner without its batch: what the page answered before batching."""

    def __init__(self, run: LakeRunner) -> None:
        self.run = run

    def __call__(self, dataset: Dataset, params: Mapping[str, Any]) -> pa.Table:
        return self.run(dataset, params)


class Counting(LakeRunner):
    alone = 0

    def __call__(self, dataset: Dataset, params: Mapping[str, Any]) -> Any:
        self.alone += 1
        return super().__call__(dataset, params)


@pytest.mark.heavy
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=histories())
def test_the_page_over_a_lake_answers_the_same_batched_and_one_by_one(
    tmp_path_factory: pytest.TempPathFactory, history: dict[str, Any]
):
    # GIVEN a random lake rolled up through some day
    lake = Lake(tmp_path_factory.mktemp("lake"), list(history["events"]))
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(history["rolled_first"] + 1)}, history["slice_rows"])
    run = Counting(from_env({}), lake=directory_lake(lake.root))
    reference = OneByOne(LakeRunner(from_env({}), lake=directory_lake(lake.root)))
    query = f"app_id={APP}&date_from={DAY0}&date_to={DAY0 + timedelta(days=DAYS - 1)}&include_bots=true"
    # WHEN the page is asked for a period that has ended, one still running, and filtered ones
    for now, extra in (
        (datetime.combine(DAY0 + timedelta(days=DAYS + 1), datetime.min.time(), tzinfo=timezone.utc), ""),
        (
            datetime.combine(DAY0 + timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=9),
            "",
        ),
        (
            datetime.combine(DAY0 + timedelta(days=DAYS + 1), datetime.min.time(), tzinfo=timezone.utc),
            "&browser=Firefox&page=/demo",
        ),
        (
            datetime.combine(DAY0 + timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=9),
            "&source=news.example",
        ),
    ):
        run.alone = 0
        pages = [handlers(load(), r, lambda: [APP], now=lambda: now)["/dashboard"] for r in (run, reference)]
        together, alone = (json.loads(p("GET", "/dashboard/api/panels", query + extra)[2]) for p in pages)
        # THEN the batched page is the one-by-one page, and nothing runs one by one
        assert together == alone
        assert all("error" not in p for p in together["panels"].values())
        assert run.alone == 0, (extra, run.alone)


def test_a_filtered_tile_compares_the_visitors_the_filter_picks_in_each_period_by_its_own_dates(tmp_path: Any):
    """overview_compare filtered runs as two runs of its base (compare_locally), not as one
    statement: there the previous half's filter subquery would take the shown period's dates."""
    # GIVEN a and c viewed /b in the previous period (days 0-3) only, b in the shown one (days 4-7) only
    lake = Lake(
        tmp_path,
        [
            page_view("e1", "a", 1, "/b"),
            page_view("e2", "c", 2, "/b"),
            page_view("e3", "b", 5, "/b"),
            page_view("e4", "b", 6, "/demo"),
        ],
    )
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}, 10_000)
    run = LakeRunner(from_env({}), lake=directory_lake(lake.root))
    now = datetime.combine(DAY0 + timedelta(days=20), datetime.min.time(), tzinfo=timezone.utc)  # both periods ended
    page = handlers(load(), run, lambda: [APP], now=lambda: now)["/dashboard"]
    # WHEN the page is filtered on /b
    query = f"app_id={APP}&date_from={DAY0 + timedelta(days=4)}&date_to={DAY0 + timedelta(days=7)}&page=/b"
    main = json.loads(page("GET", "/dashboard/api/panels", query)[2])["main"]
    # THEN the previous period's graph shows a and c (their own /b views, one each)...
    previous_days = main["daily_previous"]
    assert sum(d["visitors"] for d in previous_days) == 2 and sum(d["page_views"] for d in previous_days) == 2
    # ...and the tiles' previous values are the same visitors'
    tiles = {t["id"]: t for t in main["tiles"]}
    assert (tiles["visitors"]["previous"], tiles["sessions"]["previous"], tiles["page_views"]["previous"]) == (2, 2, 2)
