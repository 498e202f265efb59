"""identify, group and alias are not user actions (docs/lake.md): adding them to a lake changes
no answer of any view or named query, except the ``users`` view they exist for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chalicelib.lake.schema import EVENTS
from chalicelib.lake.transform import conform
from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import bind

START = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)
PARAMS = {
    "app_id": "demo",
    "date_from": "2026-11-02",
    "date_to": "2026-11-03",
    "steps": ["/demo", "LIKE_WOOD"],
    "include_bots": False,
}
NON_ACTIONS = ("identify", "group", "alias")


def _day(d: int, with_non_actions: bool) -> pa.Table:
    day = START + timedelta(days=d)
    rows: list[dict[str, Any]] = []
    for i in range(12):
        rows.append(
            {
                "event_id": f"e-{d}-{i}",
                "event_type": "page_view" if i % 3 else "custom",
                "event_name": None if i % 3 else "LIKE_WOOD",
                "event_time": day + timedelta(minutes=7 * i),
                "anonymous_id": f"v{i % 4}",
                "user_id": "u-1" if i % 4 == 0 else None,
                "path": "/demo" if i % 2 else "/demo/about",
                "is_bot": i % 5 == 4,
                "utm_source": "newsletter" if i == 0 else None,
                "country": "DE",
                "device_type": "desktop",
                "browser": "Chrome",
                "os": "Windows",
                "geo_lat": 52.5,
                "geo_lon": 13.4,
                "traits": None,
                "group_id": None,
                "previous_id": None,
            }
        )
        if with_non_actions:
            # Each visitor identifies, joins a group and is aliased between (and long after) its page views:
            # counted, they would add events, split bounces and open new sessions.
            base = rows[-1]
            for j, kind in enumerate(NON_ACTIONS):
                rows.append(
                    {
                        **base,
                        "event_id": f"n-{d}-{i}-{kind}",
                        "event_type": kind,
                        "event_name": None,
                        "event_time": day + timedelta(minutes=7 * i + 1 + j + (45 if i == 11 else 0)),
                        "path": None,
                        "user_id": "u-1",
                        "traits": '{"plan": "pro"}' if kind != "alias" else None,
                        "group_id": "g-1" if kind == "group" else None,
                        "previous_id": f"v{i % 4}" if kind == "alias" else None,
                    }
                )
    table = pa.Table.from_pylist([{**r, "app_id": "demo", "event_time": r["event_time"]} for r in rows])
    return conform(table, EVENTS)


def _lake(root: Path, with_non_actions: bool) -> DuckLake:
    for d in range(4):
        target = root / "events" / "app_id=demo" / f"dt={START + timedelta(days=d):%Y-%m-%d}"
        target.mkdir(parents=True)
        pq.write_table(_day(d, with_non_actions), target / "part-1.parquet")
    return DuckLake(root)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> tuple[DuckLake, DuckLake]:
    return _lake(tmp_path_factory.mktemp("plain"), False), _lake(tmp_path_factory.mktemp("mixed"), True)


def _rows(lake: DuckLake, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rows = lake.execute(sql, params).to_pylist() if params is not None else lake.execute(sql).to_pylist()
    return sorted(rows, key=repr)


@pytest.mark.parametrize("path", sorted(p for p in catalog.VIEWS_DIR.glob("*.sql") if p.stem != "users"), ids=lambda p: p.name)
def test_views_answer_the_same_with_non_action_events(lakes: tuple[DuckLake, DuckLake], path: Path) -> None:
    plain, mixed = lakes
    sql = f"SELECT * FROM {path.stem} WHERE app_id = 'demo'"

    assert _rows(mixed, sql) == _rows(plain, sql)


@pytest.mark.parametrize("path", sorted(catalog.QUERIES_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_named_queries_answer_the_same_with_non_action_events(lakes: tuple[DuckLake, DuckLake], path: Path) -> None:
    plain, mixed = lakes
    text = catalog.expand(path.read_text(), origin=path.name)
    names = translate.parameter_names(text)
    params = bind(names, {k: v for k, v in PARAMS.items() if k in names})
    duck = translate.to_duckdb(text)

    assert _rows(mixed, duck, params) == _rows(plain, duck, params)


def test_the_users_view_holds_the_latest_traits(lakes: tuple[DuckLake, DuckLake]) -> None:
    _, mixed = lakes

    [user] = _rows(mixed, "SELECT user_id, traits, last_anonymous_id FROM users WHERE app_id = 'demo'")

    assert (user["user_id"], user["traits"]) == ("u-1", '{"plan": "pro"}')
