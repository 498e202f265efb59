"""`clickstream query` output: tables formatted for people, csv and json exact."""

from __future__ import annotations

import csv
import io
import json

from clickstream.query import render, with_step_names

ROWS = [
    {
        "path": "/a",
        "bounce_rate": 0.10615711252653928,
        "avg_session_duration_s": 83.41666,
        "conversion": 1.0,
        "views": 1234,
        "score": 0.123456,
    }
]
COLUMNS = list(ROWS[0])


def test_the_table_shows_rates_as_percentages_and_durations_in_minutes() -> None:
    out = render(ROWS, COLUMNS, "table")
    row = out.splitlines()[2]
    assert "10.6 %" in row and "1 min 23 s" in row and "100.0 %" in row and "0.12" in row
    assert "0.10615711252653928" not in out


def test_csv_and_json_keep_the_exact_values() -> None:
    assert json.loads(render(ROWS, COLUMNS, "json"))[0]["bounce_rate"] == 0.10615711252653928
    (row,) = csv.DictReader(io.StringIO(render(ROWS, COLUMNS, "csv")))
    assert row["bounce_rate"] == "0.10615711252653928" and row["avg_session_duration_s"] == "83.41666"


def test_long_durations_in_hours_and_missing_values_as_null() -> None:
    out = render([{"duration_s": 7325.0, "bounce_rate": None}], ["duration_s", "bounce_rate"], "table")
    assert "2 h 02 min" in out and "NULL" in out


def test_funnel_rows_carry_the_steps_name() -> None:
    rows = [{"step": 1, "sessions": 10}, {"step": 2, "sessions": 4}]
    named, columns = with_step_names(rows, ["step", "sessions"], "/demo,LIKE_WOOD")
    assert columns == ["step", "step_name", "sessions"]
    assert [r["step_name"] for r in named] == ["/demo", "LIKE_WOOD"]
