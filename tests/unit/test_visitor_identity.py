"""The visitor of an event (decision 0016): its anonymous_id, else 'user:' || user_id. Segment's
contract accepts a message with a userId and no anonymousId (a server-side call); two users known
only by their userId are two visitors, with sessions of their own, from rollups and raw events
alike. (Review rv2 found them sessionized as one NULL visitor.)"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from chalicelib.lake import visitor, visitor_key
from chalicelib.live import summary
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED
from tests.rollup_helpers import APP, DAY0, DAYS, Lake, answers

DAY = DAY0 + timedelta(days=2)


def _event(event_id: str, second: int, user_id: str | None, path: str, anonymous_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "app_id": APP,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "event_time": datetime.combine(DAY, time(10), tzinfo=timezone.utc) + timedelta(seconds=second),
        "event_type": "page_view",
        "event_name": "page_view",
        "path": path,
        "browser": "Firefox",
        "is_bot": False,
    }


def _rolled_lake(tmp_path: Path, events: list[dict[str, Any]]) -> tuple[DuckLake, str]:
    lake = Lake(tmp_path, events)
    lake.write_events(lake.days())
    lake.roll({DAY0 + timedelta(days=k) for k in range(-1, DAYS + 1)}, 10_000)
    return DuckLake(lake.root), lake.rolled_through()


PARAMS = {"app_id": APP, "date_from": DAY, "date_to": DAY, "include_bots": False}


def test_two_users_without_anonymous_id_are_two_visitors_with_a_session_each(tmp_path: Path):
    # GIVEN users u1 and u2, both known only by user_id, each viewing one page ten minutes apart
    duck, through = _rolled_lake(tmp_path, [_event("e1", 0, "u1", "/demo"), _event("e2", 600, "u2", "/b")])
    for rolled in (through, NOTHING_ROLLED):
        # WHEN the overview and the browsers panel run, from the rollups and from raw events
        overview = answers(duck, "overview", {**PARAMS, "rolled_through": rolled})
        browsers = answers(duck, "browsers", {**PARAMS, "rolled_through": rolled})
        # THEN two visitors, two sessions, each a bounce (was: one session of two events, no visitor)
        assert (overview[0]["visitors"], overview[0]["sessions"], overview[0]["bounce_rate"]) == (2, 2, 1.0), (rolled, overview)
        assert [(r["browser"], r["visitors"]) for r in browsers] == [("Firefox", 2)], (rolled, browsers)
    assert through != NOTHING_ROLLED  # the first pass read the rollups


def test_a_user_id_is_not_taken_for_an_anonymous_id_of_the_same_text(tmp_path: Path):
    # GIVEN a browser whose anonymous id is "u1" and a server-side call for the user "u1", a minute apart
    duck, through = _rolled_lake(tmp_path, [_event("e1", 0, None, "/demo", anonymous_id="u1"), _event("e2", 60, "u1", "/b")])
    for rolled in (through, NOTHING_ROLLED):
        overview = answers(duck, "overview", {**PARAMS, "rolled_through": rolled})
        # THEN two visitors, one session each
        assert (overview[0]["visitors"], overview[0]["sessions"]) == (2, 2), (rolled, overview)


def test_the_rollups_name_the_visitor_in_their_sessions_and_last_events(tmp_path: Path):
    # GIVEN a user known only by user_id, active at 23:50
    late = _event("e1", 0, "u9", "/demo")
    late["event_time"] = datetime.combine(DAY, time(23, 50), tzinfo=timezone.utc)
    duck, through = _rolled_lake(tmp_path, [late])
    # THEN the session and the last event of the day are the visitor's, as the raw tail names it
    for table in ("rollup_sessions", "rollup_last_events"):
        rows = duck.execute(f"SELECT anonymous_id FROM {table} WHERE app_id = $a", {"a": APP}).to_pylist()
        assert rows == [{"anonymous_id": "user:u9"}], (table, rows)


IDS = [
    ("a", None),
    ("a", "u1"),
    (None, "u1"),
    (None, None),
    ("", "u2"),
    (None, ""),
    ("ü ß", "日本"),
    ("user:x", None),
    (None, "x"),
]


def test_the_visitor_is_one_rule_in_python_arrow_and_sql():
    con = duckdb.connect()
    expected = [visitor.visitor(a, u) for a, u in IDS]
    assert expected[:4] == ["a", "a", "user:u1", None]
    arrow = visitor_key.visitors(pa.array([a for a, _ in IDS], pa.string()), pa.array([u for _, u in IDS], pa.string()))
    assert arrow.to_pylist() == expected
    columns = {"anonymous_id": pa.array([a for a, _ in IDS], pa.string()), "user_id": pa.array([u for _, u in IDS], pa.string())}
    table = pa.table(columns)
    sql = translate.to_duckdb(catalog.expand("SELECT @visitor AS v, @visitor_key AS k FROM t"))
    con.register("t", table)
    rows = con.execute(sql).fetchall()
    assert [v for v, _ in rows] == expected
    assert [k for _, k in rows] == [None if v is None else visitor_key.key(v) for v in expected]


@pytest.mark.parametrize(("row", "other"), [({"user_id": "u1"}, {"anonymous_id": "u1"}), ({"user_id": "u1"}, {"user_id": "u2"})])
def test_the_live_view_counts_visitors_by_the_same_rule(row: dict[str, Any], other: dict[str, Any]):
    assert summary.visitor_of(row) != summary.visitor_of(other)
    assert summary.visitor_of({"anonymous_id": "a", "user_id": "u1"}) == summary.visitor_of({"anonymous_id": "a"})
