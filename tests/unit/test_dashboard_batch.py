"""The dashboard fetches a page's datasets in one batch where its runner can (panels.Memo over
a BatchRunner), and one by one when the batch fails, so a failing dataset still blanks only
its own panels. tests/unit/test_lake_batch.py checks the batch's answers against each query's."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

import pyarrow as pa

from clickstream.dashboard import main as main_block
from clickstream.dashboard import panels
from clickstream.dashboard.pages import handlers
from clickstream.dashboard.spec import Dataset, load

TODAY = date(2025, 3, 28)


class Batching:
    """A stand-in BatchRunner: a dataset not in ``tables`` is down, and a batch that holds it
    fails as one DuckDB statement does; ``narrowed`` requests (a cut-off) are left to one by one."""

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
        return {i: self.tables[d.name] for i, (d, p) in enumerate(requests) if p.get("until") is None}


def tables_for(names: Sequence[str]) -> dict[str, pa.Table]:
    spec = load()
    return {n: pa.table({c: [1] for c in spec.datasets[n].columns}) for n in names}


def panels_of(run: Any, past: bool = True) -> dict[str, Any]:
    """The page for the four weeks to TODAY: a period that ended (``past``) or is running."""
    day = TODAY + timedelta(days=7 if past else 0)
    now = lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)  # noqa: E731
    query = f"app_id=shop&date_from={TODAY - timedelta(days=27)}&date_to={TODAY}"
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
    # the period ends today: the top half's runs are cut at now and run alone, the panels in the batch
    run = Batching(tables_for(sorted({d.name for d in load().used_datasets()} | {"overview"})))
    body = panels_of(run, past=False)
    assert len(run.batches) == 1 and run.calls == ["daily_metrics", "daily_metrics"]
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
