"""The deployment package, run the way Lambda runs it (tests/artifact/lambda_runtime.py).

GIVEN ``make package STAGE=prod``'s zip and template, the pinned layer's packages with the
layer's codecs only, the runtime's boto3, and an isolated python3.13,
WHEN API Gateway events reach ``api_handler``, EventBridge's schedule reaches ``export_events``
with a budget small enough to fan out, and each recorded async Invoke reaches ``export_worker``,
THEN every accepted event is in the lake exactly once, in a codec the layer can read.

To cover a new route or event shape, add an ``api_event(...)`` to ``API_CALLS`` (with the
status it must get); the export check follows from the events the API accepted.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import struct
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chalicelib.export import months, rollups
from chalicelib.lake import codecs, layout, month, rollup
from chalicelib.store import keys
from tests.artifact import lambda_runtime as lr
from tests.factories import event

ORIGIN = "https://shop.example"
TAB_TITLE = "Tab\tin a title"


def _body(events: list[dict[str, Any]]) -> str:
    return json.dumps({"events": events})


def api_calls(key: str, read_key: str) -> list[tuple[str, dict[str, Any], int, list[dict[str, Any]]]]:
    """(what, API Gateway event, expected status, events it sends that must reach the lake)."""
    # A tab in a top-level string is stored as an object item among positional ones (the export
    # reads that page line by line), and a day-old event adds a second dt partition to split;
    # a page view an offline client queued three days ago: its closed day gets rolled up.
    day_old = event()
    day_old["timestamp"] -= 86_400_000
    late = event(timestamp=int(time.time() * 1000) - 3 * 86_400_000)
    json_batch = [event(), event(event_type="click", event_name="add_to_cart"), event(title=TAB_TITLE), day_old, late]
    beacon = [event(), event()]
    encoded = [event(), event()]
    headers = {"Origin": ORIGIN}
    return [
        (
            "POST JSON with the key in X-Api-Key",
            lr.api_event(
                "POST",
                "/v1/events",
                body=_body([*json_batch, {"event_type": 7}]),
                headers={**headers, "Content-Type": "application/json", "X-Api-Key": key},
            ),
            200,
            json_batch,
        ),
        (
            "POST text/plain with ?key= (sendBeacon)",
            lr.api_event(
                "POST",
                "/v1/events",
                body=_body(beacon),
                headers={**headers, "Content-Type": "text/plain;charset=UTF-8"},
                query={"key": key},
            ),
            200,
            beacon,
        ),
        (
            "base64-encoded body",
            lr.api_event(
                "POST",
                "/v1/events",
                body=_body(encoded),
                base64_body=True,
                headers={**headers, "Content-Type": "application/json", "X-Api-Key": key},
            ),
            200,
            encoded,
        ),
        (
            "OPTIONS preflight",
            lr.api_event(
                "OPTIONS",
                "/v1/events",
                query={"key": key},
                headers={**headers, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
            ),
            204,
            [],
        ),
        ("GET health", lr.api_event("GET", "/v1/health"), 200, []),
        (
            "an unknown key",
            lr.api_event(
                "POST",
                "/v1/events",
                body=_body([event()]),
                headers={**headers, "Content-Type": "application/json", "X-Api-Key": "wk_unknown"},
            ),
            401,
            [],
        ),
        (
            "GET /v1/live with a Bearer read key",
            lr.api_event("GET", "/v1/live", headers={"Authorization": f"Bearer {read_key}"}),
            200,
            [],
        ),
        (
            "GET /v1/live with the public write key",
            lr.api_event("GET", "/v1/live", headers={"Authorization": f"Bearer {key}"}),
            401,
            [],
        ),
        *segment_calls(key),
    ]


def _segment_messages(n: int) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return [
        {
            "type": "track",
            "event": "Order Completed",
            "messageId": f"seg-{uuid.uuid4().hex}",
            "anonymousId": "anon-seg",
            "timestamp": now,
            "properties": {"total": 12.5},
            "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        }
        for _ in range(n)
    ]


def _sent(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What must reach the lake: each messageId fits our pattern, so it is the event_id as is."""
    return [{"event_id": m["messageId"]} for m in messages]


def segment_calls(key: str) -> list[tuple[str, dict[str, Any], int, list[dict[str, Any]]]]:
    """Segment's HTTP tracking API as the SDKs send it (docs/segment.md), in both body shapes API
    Gateway passes on with payload compression (docs/deploy.md): inflated with Content-Encoding
    still set, or the gzip bytes base64-encoded."""
    basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Origin": ORIGIN, "Content-Type": "application/json", "Authorization": basic}
    plain, zipped, inflated, beacon = (_segment_messages(2) for _ in range(4))
    return [
        (
            "Segment /v1/batch with HTTP Basic",
            lr.api_event("POST", "/v1/batch", body=json.dumps({"batch": plain}), headers=headers),
            200,
            _sent(plain),
        ),
        (
            "Segment /v1/batch gzip, base64-encoded",
            lr.api_event(
                "POST",
                "/v1/batch",
                base64_body=True,
                body=gzip.compress(json.dumps({"batch": zipped}).encode()),
                headers={**headers, "Content-Encoding": "gzip"},
            ),
            200,
            _sent(zipped),
        ),
        (
            "Segment /v1/batch inflated by API Gateway, Content-Encoding still gzip",
            lr.api_event(
                "POST", "/v1/batch", body=json.dumps({"batch": inflated}), headers={**headers, "Content-Encoding": "gzip"}
            ),
            200,
            _sent(inflated),
        ),
        (
            "analytics.js /v1/b as text/plain with writeKey in the body",
            lr.api_event(
                "POST",
                "/v1/b",
                body=json.dumps({"batch": beacon, "writeKey": key}),
                headers={"Origin": ORIGIN, "Content-Type": "text/plain"},
            ),
            200,
            _sent(beacon),
        ),
        (
            "analytics.js preflight on /v1/t",
            lr.api_event(
                "OPTIONS",
                "/v1/t",
                headers={
                    "Origin": ORIGIN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,x-retry-count,content-type",
                },
            ),
            204,
            [],
        ),
    ]


@pytest.fixture(scope="module")
def ingested(lambda_stack: lr.LambdaRuntime, write_key: str, read_key: str) -> dict[str, Any]:
    calls = api_calls(write_key, read_key)
    results = lambda_stack.invoke("api_handler", [e for _, e, _, _ in calls])
    return {"calls": calls, "results": results}


def test_api_gateway_events_get_the_documented_answers(ingested: dict[str, Any]) -> None:
    for (what, _, status, sent), outcome in zip(ingested["calls"], ingested["results"]):
        assert "result" in outcome, f"{what}: {outcome.get('message')}\n{outcome.get('trace')}"
        response = outcome["result"]
        assert response["statusCode"] == status, f"{what}: {response}"
        if sent:
            assert json.loads(response["body"])["accepted"] == len(sent), what
            assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN, what
    preflight = ingested["results"][3]["result"]
    assert preflight["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    assert json.loads(ingested["results"][4]["result"]["body"])["status"] == "ok"
    segment_preflight = ingested["results"][-1]["result"]
    allowed = segment_preflight["headers"]["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "x-retry-count" in allowed, segment_preflight
    live = ingested["results"][6]["result"]
    assert live["headers"]["Cache-Control"] == "no-store"
    # The live view reads DynamoDB, not the lake: the visitors posted just before are already there.
    assert json.loads(live["body"])["current"]["visitors"] >= 1, live["body"]


def test_the_api_runs_from_the_zip_alone_and_stays_light(ingested: dict[str, Any], lambda_stack: lr.LambdaRuntime) -> None:
    last = ingested["results"][-1]
    assert last["modules"] == [], f"the API function imported {last['modules']}; it must not need the pandas layer"
    assert last["origins"]["orjson"].startswith(str(lambda_stack.task)), last["origins"]
    assert last["origins"]["chalicelib"].startswith(str(lambda_stack.task)), last["origins"]
    assert last["origins"]["boto3"].startswith(str(lambda_stack.sdk)), last["origins"]


def test_every_accepted_event_reaches_the_lake_once_through_fan_out(
    lambda_stack: lr.LambdaRuntime, ingested: dict[str, Any], recorder: lr.InvokeRecorder, lake: Any, tmp_path: Path
) -> None:
    accepted = [e["event_id"] for _, _, status, sent in ingested["calls"] for e in sent]
    time.sleep(1.2)  # past the settle time below
    # A budget under the total forces the scheduled export to fan out to the worker. A shard is
    # never split (plan.plan_groups halves the window while one shard alone is over budget), so
    # the budget is above the fullest shard's count.
    shards = int(lambda_stack.environment("export_events")["CLICKSTREAM_WRITE_SHARDS"])
    per_shard = Counter(keys.shard_of(event_id, shards) for event_id in accepted)
    budget = max(max(per_shard.values()) + 1, -(-len(accepted) // 3))
    assert budget < len(accepted)
    tiny = {"CLICKSTREAM_EXPORT_BUDGET_EVENTS": str(budget), "CLICKSTREAM_SETTLE_SECONDS": "1"}
    recorder.take()

    [first] = lambda_stack.invoke("export_events", [lr.scheduled_event()], tiny)
    assert "result" in first, f"{first.get('message')}\n{first.get('trace')}"
    assert first["result"]["status"] == "fanned_out" and first["result"]["groups"] > 1, first["result"]
    assert "pyarrow" in first["modules"] and first["origins"]["pyarrow"].startswith(str(lambda_stack.layer))

    calls = recorder.take()
    worker_name = lr.resolve(lambda_stack.function("export_worker")["FunctionName"], lambda_stack.refs, lambda_stack.stack_name)
    assert {(function, kind) for function, kind, _ in calls} == {(worker_name, "Event")}
    payloads = [payload for _, _, payload in calls]
    # One worker per group, except group 0 when the coordinator's planning read finished its
    # shards within the budget: it exports that group itself, from what it read (0012 §4)
    invoked = sorted(payload["group"] for payload in payloads)
    assert invoked in (list(range(first["result"]["groups"])), list(range(1, first["result"]["groups"]))), invoked

    done = lambda_stack.invoke("export_worker", payloads, tiny)
    for payload, outcome in zip(payloads, done):
        assert "result" in outcome, f"worker {payload}: {outcome.get('message')}\n{outcome.get('trace')}"
        assert outcome["result"]["status"] == "done", outcome["result"]

    spill_root = tmp_path / "tmp"  # the function's /tmp: the rollup rebuild spills there
    spill_root.mkdir()
    [commit] = lambda_stack.invoke("export_events", [lr.scheduled_event()], {**tiny, "TMPDIR": str(spill_root)})
    assert "result" in commit, f"{commit.get('message')}\n{commit.get('trace')}"
    assert list(spill_root.iterdir()) == [], "a warm Lambda reuses /tmp: the rebuild leaves nothing there"
    assert commit["result"]["status"] in ("exported", "idle"), commit["result"]

    s3, bucket = lake
    found: Counter[str] = Counter()
    titles: set[str] = set()
    rejected = 0
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="lake/").get("Contents", []):
        if not obj["Key"].endswith(".parquet") or "/_state/" in obj["Key"]:
            continue
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        meta = pq.ParquetFile(io.BytesIO(body)).metadata
        used = {
            meta.row_group(g).column(c).compression.lower() for g in range(meta.num_row_groups) for c in range(meta.num_columns)
        }
        assert used <= codecs.LAYER_CODECS, f"{obj['Key']} uses {used}"
        table = pq.read_table(io.BytesIO(body))
        if obj["Key"].startswith("lake/events/"):
            found.update(table.column("event_id").to_pylist())
            titles.update(table.column("title").to_pylist())
        elif obj["Key"].startswith("lake/rejected_events/"):
            rejected += table.num_rows
    assert found == Counter(accepted), f"missing {set(accepted) - set(found)}, twice {[k for k, n in found.items() if n > 1]}"
    assert rejected == 1  # the invalid event of the JSON batch
    assert TAB_TITLE in titles  # the object item among positional ones, read back exactly
    assert_rolled_up_and_published(s3, bucket)


def assert_rolled_up_and_published(s3: Any, bucket: str) -> None:
    """The late event's day was rolled up by the commit run's housekeeping (the layer's pyarrow
    and numpy), its worker's hold is gone, and the app's state vouches for the closed days."""
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="lake/").get("Contents", [])]
    days = sorted({layout.partition_of(k) for k in listed if k.startswith("lake/events/")}, key=lambda a_d: a_d[1])
    app, late_day = days[0]
    assert late_day < days[-1][1], "the late event is on an earlier day than the others"
    for table in rollups.WRITE_ORDER:
        assert layout.partition_prefix("lake", table, app, late_day) + rollup.FILE_NAME in listed, table
    # The layer's pyarrow writes each rollup column as rollup.PLAIN says: the key of the key-sorted
    # files without a dictionary, the browser with one.
    for table, column_name, dictionary in (
        ("rollup_visitor_days", "visitor_key", False),
        ("rollup_page_days", "visitor_key", False),
        ("rollup_visitor_days", "browser", True),
    ):
        key = layout.partition_prefix("lake", table, app, late_day) + rollup.FILE_NAME
        meta = pq.ParquetFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).metadata
        column = meta.row_group(0).column(meta.schema.to_arrow_schema().get_field_index(column_name))
        assert column.has_dictionary_page is dictionary, (table, column_name, column.encodings)
    # ... and each keyed file sorted by visitor_key, with the key's min/max in every row group
    # (what a month build's key range selects groups by: chalicelib/lake/key_ranges.py).
    for table in rollup.KEY_SORTED:
        key = layout.partition_prefix("lake", table, app, late_day) + rollup.FILE_NAME
        parquet = pq.ParquetFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        keys = parquet.read(columns=["visitor_key"])["visitor_key"].to_pylist()
        assert keys == sorted(keys) and (keys or table != "rollup_visitor_days"), table  # (a day may have no custom event)
        at = parquet.schema_arrow.get_field_index("visitor_key")
        for g in range(parquet.metadata.num_row_groups):
            stats = parquet.metadata.row_group(g).column(at).statistics
            assert stats is not None and stats.has_min_max, (table, g)
    # The month pass (decision 0017 step 2) built the late day's month on the layer: one part of
    # each dimension and its carry, the overall rows' visitors those of the month's visitor days.
    first = date.fromisoformat(late_day).replace(day=1)
    for dim in month.DIMENSIONS:
        assert months.month_key("lake", app, dim.name, first, 0, 1) in listed, dim.name
        assert months.carry_key("lake", app, first, dim.name, 0, 1) in listed, dim.name
    overall = months.month_key("lake", app, "overall", first, 0, 1)
    rows = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=overall)["Body"].read()))
    day_keys: set[int] = set()
    for key in listed:
        if key.startswith(layout.app_prefix("lake", "rollup_visitor_days", app) + f"dt={first:%Y-%m}-"):
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            day_keys.update(pq.read_table(io.BytesIO(body)).column("visitor_key").to_pylist())
    assert rows.num_rows and sorted(rows.column("visitor_key").to_pylist()) == sorted(day_keys)
    # each row's first and last day, as the layer's numpy computed them, are its mask's (None: no day)
    for who in ("all", "people"):
        masks = rows.column(f"mask_{who}").to_pylist()
        days = list(zip(rows.column(f"first_day_{who}").to_pylist(), rows.column(f"last_day_{who}").to_pylist()))
        assert days == [((m & -m).bit_length(), m.bit_length()) if m else (None, None) for m in masks], who
    state = [k for k in listed if k.startswith(rollups.state_folder("lake", app))]
    assert state == [rollups.state_folder("lake", app) + rollups.STATE_FILE], state  # no hold left
    body = s3.get_object(Bucket=bucket, Key=state[0])["Body"].read()
    [(vouches, through)] = rollups.values_of(pq.read_table(io.BytesIO(body)))
    assert vouches == rollups.STATE_TAG  # the packaged export vouches for this release's set of rollups
    assert through == (date.fromisoformat(late_day) + timedelta(days=1)).isoformat()  # today's neighbours are open
    # and the month rows (their month built, no entry left) as far as the day rollups
    assert rollups.values_of(pq.read_table(io.BytesIO(body)), "months") == [(vouches, through)]


ROLLUP_PROBE = """
import os
from datetime import date
from pathlib import Path
import pyarrow.parquet as pq
from chalicelib.lake import key_ranges, rollup, spill

class Days:  # rollup.DaySource over a directory laid out like the lake
    def __init__(self, root):
        self.root = Path(root)
    def _files(self, app, day):
        return sorted((self.root / "events" / f"app_id={app}" / f"dt={day}").glob("*.parquet"))
    def count(self, app, day):
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self._files(app, day))
    def batches(self, app, day, columns):
        for f in self._files(app, day):
            yield from pq.ParquetFile(f).iter_batches(batch_size=7, columns=list(columns))

def rebuild(event, context):
    source, day = Days(event["root"]), date.fromisoformat(event["day"])
    whole = rollup.rebuild_day(source, event["app"], day)
    sliced = rollup.rebuild_day(source, event["app"], day, rows_per_slice=1)
    rows = lambda t: sorted(map(repr, t.to_pylist()))
    return {"slices": rollup.visitor_slices(source.count(event["app"], day), 1),
            "differ": [n for n in rollup.SCHEMAS if rows(whole[n]) != rows(sliced[n])],
            "sessions": [s["event_count"] for s in whole["rollup_sessions"].to_pylist()],
            "keys": {s["anonymous_id"]: s["visitor_key"] for s in sliced["rollup_sessions"].to_pylist()},
            "day_keys": sorted(sliced["rollup_visitor_days"]["visitor_key"].to_pylist()),
            "files": files(source, event["app"], day),
            "totals": {n: sliced[n].drop_columns(["app_id"]).to_pylist() for n in rollup.TOTALS},
            "left": os.listdir(os.environ["TMPDIR"])}

def files(source, app, day):
    # The layer's pyarrow writes each keyed file sorted by key across the slices, with the key's
    # statistics, and reads a key range's rows by them.
    out = {}
    with spill.workdir() as folder:
        for name, path in rollup.rebuild_day_files(source, app, day, folder, rows_per_slice=1).items():
            if name in rollup.KEY_SORTED:
                parquet = pq.ParquetFile(path)
                table = parquet.read()
                keys = table["visitor_key"].to_pylist()
                halves = key_ranges.plan_ranges(2)
                out[name] = {"rows": len(keys), "sorted": keys == sorted(keys),
                             "stats": [parquet.metadata.row_group(g).column(table.schema.get_field_index("visitor_key"))
                                       .statistics.has_min_max for g in range(parquet.metadata.num_row_groups)],
                             "halves": [key_ranges.read(parquet, r).equals(key_ranges.select(table, r)) for r in halves]}
    return out
"""


def test_a_day_rebuilt_in_slices_through_local_files_runs_on_the_layer(lambda_stack: lr.LambdaRuntime, tmp_path: Path) -> None:
    """The rebuild's slices (ranges of the visitor key, files in /tmp in the lake's codec) under the
    layer's pyarrow and numpy, which refuse zstd and lz4: many slices give the unsliced tables.
    Three visitors are known only by their userId (Segment server-side calls): each is its own
    visitor, 'user:' + user_id (decision 0016), computed by the layer's pyarrow."""
    from tests.rollup_helpers import Lake as EventsDir

    day = date(2026, 11, 2)
    events = EventsDir(tmp_path / "lake")
    events.events = [
        {
            "event_id": f"e{v:02d}{i}",
            "app_id": "a",
            "anonymous_id": f"user-{v}" if v < 9 else None,  # one first character: the old slicing put them in one slice
            "user_id": f"u{v}" if v >= 9 else None,
            "event_time": datetime(2026, 11, 2, 23, 40 + v, tzinfo=timezone.utc) + timedelta(minutes=9 * i),
            "event_type": "page_view",
            "path": "/demo",
            "is_bot": False,
            "geo_lat": 37.65,  # a half: Athena's cell is 37.7 (tests/unit/test_geo_cells.py)
            "geo_lon": -0.05,
        }
        for v in range(12)
        for i in range(4)
    ]
    events.write_events(events.days())
    task = tmp_path / "task"
    shutil.copytree(lambda_stack.task, task)
    (task / "rollup_probe.py").write_text(ROLLUP_PROBE)
    spill_root = tmp_path / "tmp"
    spill_root.mkdir()
    event = {"root": str(events.root), "app": "a", "day": day.isoformat()}
    [outcome] = lambda_stack.invoke(
        "export_worker", [event], {"TMPDIR": str(spill_root)}, task=task, handler="rollup_probe.rebuild"
    )
    assert "result" in outcome, f"{outcome.get('message')}\n{outcome.get('trace')}"
    assert outcome["result"]["slices"] > 10 and outcome["result"]["differ"] == [], outcome["result"]
    assert sorted(outcome["result"]["sessions"]) == [4] * 12  # across midnight: the day after's rows were read
    # The visitor key computed on the layer (chalicelib/lake/visitor_key.py) is the definition's.
    ids = [f"user-{v}" if v < 9 else f"user:u{v}" for v in range(12)]
    expected = {i: struct.unpack(">q", hashlib.md5(i.encode()).digest()[:8])[0] for i in ids}
    assert outcome["result"]["keys"] == expected
    assert outcome["result"]["day_keys"] == sorted(expected.values())
    keyed = outcome["result"]["files"]  # (the day has no custom event: its rollup_event_days is empty)
    assert sorted(keyed) == sorted(rollup.KEY_SORTED), keyed
    assert all(bool(f["rows"]) == (n != "rollup_event_days") for n, f in keyed.items()), keyed
    assert all(f["sorted"] and all(f["stats"]) and bool(f["stats"]) == bool(f["rows"]) for f in keyed.values()), keyed
    assert all(f["halves"] == [True, True] for f in keyed.values()), keyed
    # The keyless day totals (decision 0017 step 1), summed over the slices on the layer: the day's
    # 25 page views (v + 9 i minutes after 23:40 before midnight) and the 12 sessions starting on it.
    totals = outcome["result"]["totals"]
    people = {"is_bot": False}
    dims = {"bot_reason": None, "browser": None, "device_type": None, "os": None, "country": None}
    assert totals["rollup_visitor_totals"] == [{**people, **dims, "events": 25, "page_views": 25}]
    assert totals["rollup_page_totals"] == [{**people, "path": "/demo", "page_views": 25}]
    assert totals["rollup_event_totals"] == []
    assert totals["rollup_geo_totals"] == [{**people, "lat_cell": 37.7, "lon_cell": -0.1, "events": 25}]
    assert totals["rollup_entry_totals"] == [{**people, "entry_path": "/demo", "sessions": 12, "bounces": 0}]
    assert totals["rollup_exit_totals"] == [{**people, "exit_path": "/demo", "sessions": 12}]
    source = {"utm_source": None, "utm_medium": None, "utm_campaign": None}
    assert totals["rollup_referrer_totals"] == [{**people, "referrer_host": None, "sessions": 12, "bounces": 0}]
    assert totals["rollup_utm_totals"] == [{**people, **source, "sessions": 12, "bounces": 0}]
    assert outcome["result"]["left"] == []


# ------------------------------------------------------------------ the emulation itself can fail
PROBE = """
import base64, io
import pyarrow as pa
import pyarrow.parquet as pq

def write(event, context):
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2]}), sink, compression=event["codec"])
    return len(sink.getvalue())

def read(event, context):
    return pq.read_table(io.BytesIO(base64.b64decode(event["body"]))).num_rows
"""


def _probe(lambda_stack: lr.LambdaRuntime, tmp_path: Path, what: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a probe handler in the export worker's emulated environment (its layer, its pyarrow)."""
    task = tmp_path / "task"
    if not task.exists():
        shutil.copytree(lambda_stack.task, task)
        (task / "layer_probe.py").write_text(PROBE)
    return lambda_stack.invoke("export_worker", events, task=task, handler=f"layer_probe.{what}")


@pytest.mark.parametrize("codec", sorted(codecs.LAYER_LACKS - {"lz4_raw", "bz2"}))
def test_the_emulated_layer_refuses_to_write_and_read_what_the_real_one_lacks(
    lambda_stack: lr.LambdaRuntime, tmp_path: Path, codec: str
) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2]}), sink, compression=codec)  # the laptop's pyarrow can
    body = base64.b64encode(sink.getvalue()).decode()
    wrote = _probe(lambda_stack, tmp_path, "write", [{"codec": codec}, {"codec": codecs.LAKE_CODEC}])
    assert wrote[0].get("error") == "ArrowNotImplementedError" and f"codec '{codec}' not built" in wrote[0]["message"], wrote[0]
    assert "result" in wrote[1], wrote[1]
    read = _probe(lambda_stack, tmp_path, "read", [{"body": body}])
    assert read[0].get("error") == "ArrowNotImplementedError", read[0]


def test_a_module_missing_from_the_zip_is_missing_in_the_emulation(lambda_stack: lr.LambdaRuntime, tmp_path: Path) -> None:
    """Isolation: the development virtualenv has orjson, the emulated function must not see it."""
    task = tmp_path / "task"
    shutil.copytree(lambda_stack.task, task)
    shutil.rmtree(task / "orjson")
    [outcome] = lambda_stack.invoke("api_handler", [lr.api_event("GET", "/v1/health")], task=task)
    assert outcome.get("error") == "Runtime.ImportModuleError" and "orjson" in outcome["message"], outcome
