"""The local engine's one optimisation: sessions computed once per lake change, not per query.

Every session query in etl/queries opens with the same four CTEs (tests/unit/test_sql_files.py
keeps them identical): ``scoped`` reads the range plus its margins, ``ordered``/``flagged``/
``numbered`` sort each visitor's events and number the sessions. On Athena that is the right
shape (bounded reads, Athena scales the sort out). On one laptop core the sort is the cost:
about 1 s per million events, for each of the seven session panels of a page.

So DuckDB materialises the ``session_events`` view (etl/views/session_events.sql, the same
30-minute rule over the app's whole history) into a table once after the lake changes, and
session queries get those four CTEs replaced by one ``numbered`` that reads the range from it.
The rest of each query runs as written. The two forms agree:

* a session that starts in the range has the same events, first event and order in both;
* a session that started before the range and runs into it is "not started in range" in both
  (its first event inside the window is in the 30-minute margin, which is not in the range);
* ``session_no`` becomes the global session id and ``seq`` the order within the session:
  the queries use them only to group and to order within a session.

The only difference: a session running more than a day past the range's end is cut at the
end of that day by the Athena form and not by this one. tests/integration/test_views_truth.py
runs every session query both ways against the generator's truth.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache

import sqlglot
from sqlglot import exp

from clickstream.lake import catalog, translate
from clickstream.lake.duck import DuckLake

BLOCK = ("scoped", "ordered", "flagged", "numbered")
TABLE = "_session_events"
CANONICAL_QUERY = "overview"

COLUMNS = """app_id, dt, event_id, event_time, event_type, event_name, anonymous_id, path, referrer_host,
       utm_source, utm_medium, utm_campaign, is_bot, session_id, session_seq,
       CAST(is_session_start AS INTEGER) AS is_session_start"""
MATERIALIZE = f"CREATE OR REPLACE TABLE {TABLE} AS SELECT {COLUMNS} FROM session_events ORDER BY app_id, dt, event_time"
# One app again: session_events partitions its windows by app_id, so DuckDB reads only that app.
REPLACE_APP = [
    f"DELETE FROM {TABLE} WHERE app_id = $app_id",
    f"INSERT INTO {TABLE} SELECT {COLUMNS} FROM session_events WHERE app_id = $app_id ORDER BY dt, event_time",
]

# Same columns as the block's ``numbered``, same rows: the range, the last 30 minutes before it
# and the day after it (the margins decide nothing here but keep range_events and friends equal).
NUMBERED = f"""
SELECT
  event_id, event_time, event_type, event_name, anonymous_id, path, referrer_host, utm_source, utm_medium, utm_campaign, is_bot,
  dt BETWEEN $date_from AND $date_to AS in_range,
  CAST(NULL AS TIMESTAMP) AS prev_time,
  session_seq AS seq,
  is_session_start,
  session_id AS session_no
FROM {TABLE}
WHERE app_id = $app_id
  AND dt BETWEEN STRFTIME(CAST($date_from AS DATE) - INTERVAL 1 DAY, '%Y-%m-%d')
             AND STRFTIME(CAST($date_to AS DATE) + INTERVAL 1 DAY, '%Y-%m-%d')
  AND event_time >= CAST(CAST($date_from AS DATE) AS TIMESTAMP) - INTERVAL 30 MINUTE
"""


def _ctes(tree: exp.Expression) -> list[exp.CTE]:
    with_ = tree.args.get("with_") or tree.args.get("with")
    return list(with_.expressions) if with_ is not None else []


@lru_cache(maxsize=1)
def _canonical() -> dict[str, str]:
    found = catalog.query_file(CANONICAL_QUERY)
    assert found is not None, f"etl/queries/{CANONICAL_QUERY}.sql is the session block's reference"
    tree = sqlglot.parse_one(translate.to_duckdb(found.text), read="duckdb")
    return {c.alias: c.this.sql("duckdb") for c in _ctes(tree) if c.alias in BLOCK}


@lru_cache(maxsize=256)
def rewrite(duck_sql: str) -> str | None:
    """The query reading sessions from the materialised table, or None if it has no session block."""
    tree = sqlglot.parse_one(duck_sql, read="duckdb")
    ctes = _ctes(tree)
    mine = {c.alias: c.this.sql("duckdb") for c in ctes if c.alias in BLOCK}
    if set(mine) != set(BLOCK) or mine != _canonical():
        return None
    alias = exp.TableAlias(this=exp.to_identifier("numbered"))
    replacement = exp.CTE(this=sqlglot.parse_one(NUMBERED, read="duckdb"), alias=alias)
    kept = [replacement if c.alias == "numbered" else c for c in ctes if c.alias not in BLOCK[:-1]]
    (tree.args.get("with_") or tree.args["with"]).set("expressions", kept)
    return tree.sql("duckdb")


class SessionTable:
    """The materialised session_events of one DuckLake, rebuilt lazily after the lake changes:
    only the apps whose files changed (an export touches the apps it exported), or everything
    when the change is unknown. The cost is one sort of the app's events (bench: 2.5-5 s per
    million events on 2 busy cores), paid by the first session query after the change."""

    def __init__(self, duck: DuckLake) -> None:
        self.duck = duck
        self.built = False
        self.stale: set[str] = set()
        self.build_seconds: float | None = None
        self._lock = threading.Lock()

    @property
    def fresh(self) -> bool:
        return self.built and not self.stale

    def invalidate(self, apps: frozenset[str] | None = None) -> None:
        if apps is None:
            self.built = False
        else:
            self.stale |= set(apps)

    def ensure(self) -> None:
        with self._lock:
            if self.fresh:
                return
            started = time.monotonic()
            if not self.built:
                self.duck.statement(MATERIALIZE)
            else:
                for app in sorted(self.stale):
                    for statement in REPLACE_APP:
                        self.duck.execute(statement, {"app_id": app})
            self.built, self.stale = True, set()
            self.build_seconds = round(time.monotonic() - started, 3)
