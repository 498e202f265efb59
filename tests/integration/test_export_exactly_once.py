"""Exactly once in the lake, whatever happens: crashes at every step, retries, runs at once.

Each hypothesis example gets a fresh table and bucket on the local stack and plays a
random history: client batches with retried and duplicated event_ids and late events,
export runs between them, and a hard kill (no cleanup, lease left held) at one step of
one run or compaction. Then runs continue until everything is committed, and the lake
must hold every accepted event exactly once with the values of its first received copy, and
once the days have closed, one rollup file per table and day equal to a rebuild from the events.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections import Counter
from datetime import date

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from chalicelib import clients
from chalicelib.export import rollups
from chalicelib.export.run import Exporter, PendingRunBusy, Tuning
from chalicelib.export.state import LeaseLost
from chalicelib.lake import layout, rollup
from chalicelib.lake.parquetio import Lake
from chalicelib.lake.transform import lines_to_table
from chalicelib.settings import from_env
from clickstream.admin.erasure import Subject, erase
from clickstream.admin.ledger import LedgerEntry
from clickstream.admin.tables import ensure_bucket, ensure_table
from tests.factories import ABSENT
from tests.lake_helpers import event, read_lake, store

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_795_000_000_000  # 2026-11-18T...
LEASE_MS = 60_000
CRASH_POINTS = [
    "after_begin",
    "after_data_file",
    "after_files",
    "after_index",
    "after_mark_done",
    "before_commit",
    "after_commit",
    "compact_after_intent",
    "compact_after_output",
    "compact_after_delete",
    "rollup_after_write",
    "rollup_after_clean",
    "month_after_part",
    "month_after_clean",
    "rollup_after_state",
]


class HardKill(BaseException):
    """The process dies: no except/finally cleanup, the lease stays held until it expires."""


def fresh_settings(local_stack):
    name = f"x-{uuid.uuid4().hex[:10]}"
    s = from_env(
        {
            **local_stack.env(),
            "CLICKSTREAM_TABLE": name,
            "CLICKSTREAM_BUCKET": name,
            "CLICKSTREAM_WRITE_SHARDS": "2",
            "CLICKSTREAM_SETTLE_SECONDS": "10",
        }
    )
    ensure_table(clients.dynamodb(s), s.table)
    ensure_bucket(clients.s3(s), s.bucket)
    return s


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


def make_exporter(s, clock, crash=lambda p: None, budget=None, **kw):
    return Exporter(
        s, clients.dynamodb(s), clients.s3(s), clock=clock, crash=crash, tuning=Tuning(lease_ms=LEASE_MS, budget=budget), **kw
    )


def expected_rows(s):
    """The first received stored copy of each (app_id, event_id), read back from the table."""
    items = clients.dynamodb(s).scan(TableName=s.table)["Items"]
    lines = [i["d"]["S"] for i in items if i["pk"]["S"].startswith("e#")]
    table = lines_to_table("events", lines).sort_by([("received_at", "ascending")])
    first: dict[tuple[str, str], dict] = {}
    for row in table.to_pylist():
        first.setdefault((row["app_id"], row["event_id"]), row)
    return first


def drain(s, clock):
    """Run until nothing is pending and the whole history has settled."""
    clock.ms += LEASE_MS + 20_000
    for _ in range(5):
        report = make_exporter(s, clock).run_once()
        assert report.status in ("exported", "idle"), report
        clock.ms += 20_000


def assert_rollups_match_events(s):
    """Each rolled-up day has exactly one file per rollup table, equal to a rebuild from the events."""
    s3 = clients.s3(s)
    listed = [
        o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s.bucket) for o in page.get("Contents", [])
    ]
    source = rollups.S3Days(Lake(s3, s.bucket), s.lake_prefix)
    event_days = {layout.partition_of(k) for k in listed if k.startswith(layout.dataset_prefix(s.lake_prefix, "events"))}
    assert event_days
    for app, dt in event_days:
        expected = rollup.rebuild_day(source, app, date.fromisoformat(dt))
        written = {}
        for name in rollup.SCHEMAS:  # the keyless totals (rollup.TOTALS) among them
            files = [k for k in listed if k.startswith(layout.partition_prefix(s.lake_prefix, name, app, dt))]
            assert files == [layout.partition_prefix(s.lake_prefix, name, app, dt) + rollup.FILE_NAME], (name, app, dt)
            body = s3.get_object(Bucket=s.bucket, Key=files[0])["Body"].read()
            written[name] = pq.read_table(io.BytesIO(body))
            assert written[name].equals(expected[name]), (name, app, dt)
        # the keyless totals written once: every event and session of the day counted once
        assert sum(written["rollup_visitor_totals"]["events"].to_pylist()) == sum(
            written["rollup_visitor_days"]["events"].to_pylist()
        )
        for name in ("rollup_entry_totals", "rollup_exit_totals", "rollup_referrer_totals", "rollup_utm_totals"):
            assert sum(written[name]["sessions"].to_pylist()) == written["rollup_sessions"].num_rows, (name, app, dt)


def assert_no_stale_rollup_readable(s, final=False):
    """Whatever readers take as rolled_through (the least of the app's rollup_state files) covers
    only days whose rollup files are a rebuild from the events as they are now; once everything
    has settled, it reaches the last day with events, and no hold is left."""
    s3 = clients.s3(s)
    lake = Lake(s3, s.bucket)
    source = rollups.S3Days(lake, s.lake_prefix)
    listed = [
        o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s.bucket) for o in page.get("Contents", [])
    ]
    event_days: dict[str, set[str]] = {}
    for k in listed:
        if k.startswith(layout.dataset_prefix(s.lake_prefix, "events")):
            app, dt = layout.partition_of(k)
            event_days.setdefault(app, set()).add(dt)
    for app, days in event_days.items():
        through = rollups.read_state(lake, s.lake_prefix, app) or rollups.NOTHING_ROLLED
        for dt in sorted(d for d in days if d <= through):
            expected = rollup.rebuild_day(source, app, date.fromisoformat(dt))
            for name in rollup.SCHEMAS:
                key = layout.partition_prefix(s.lake_prefix, name, app, dt) + rollup.FILE_NAME
                assert key in listed, (name, app, dt, through)
                body = s3.get_object(Bucket=s.bucket, Key=key)["Body"].read()
                assert pq.read_table(io.BytesIO(body)).equals(expected[name]), ("stale", name, app, dt, through)
        if final:
            assert through >= max(days), (app, through, sorted(days))
    if final:
        assert not [k for k in listed if "/hold-" in k]


def assert_exactly_once(s):
    lake = read_lake(s)
    expected = expected_rows(s)
    got = Counter(zip(lake.column("app_id").to_pylist(), lake.column("event_id").to_pylist())) if lake.num_rows else Counter()
    assert {k: n for k, n in got.items() if n != 1} == {}, "duplicates in the lake"
    assert set(got) == set(expected), "lost or extra events"
    for row in lake.drop_columns(["dt"]).to_pylist():
        assert row == expected[(row["app_id"], row["event_id"])]


batch = st.lists(
    st.tuples(
        st.sampled_from(["app-a", "app-b"]), st.integers(0, 11), st.sampled_from([0, 0, 0, 1, 3])
    ),  # app, id from a small pool, days late
    min_size=1,
    max_size=8,
)
# batch, gap to next, run after?, item format (the version before 0012 wrote objects; both stay in the table until TTL)
history = st.lists(
    st.tuples(batch, st.integers(1, 30 * 60_000), st.booleans(), st.sampled_from(["current", "object"])), min_size=1, max_size=6
)


@pytest.mark.heavy
@hsettings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# budget: the default (a backlog is read once as one group), or so small that the planning read
# stops past it and keeps the shards it finished as group 0 (or counts and halves the window)
@given(
    history=history,
    crash_point=st.sampled_from(CRASH_POINTS),
    crash_nth=st.integers(1, 2),
    budget=st.sampled_from([None, 3, 8]),
)
def test_lake_holds_every_accepted_event_exactly_once_after_any_crash(local_stack, history, crash_point, crash_nth, budget):
    s = fresh_settings(local_stack)
    clock = Clock(T0)
    seen = Counter()

    def crash(point):
        if point == crash_point:
            seen[point] += 1
            if seen[point] == crash_nth:
                raise HardKill(point)

    first_sent: dict[tuple[str, int], int] = {}  # a retry resends the event as first sent: same timestamp
    for events, gap, run_after, item_format in history:
        by_app: dict[str, list] = {}
        for app, n, days_late in events:
            ts = first_sent.setdefault((app, n), clock.ms - days_late * DAY - 5000)
            by_app.setdefault(app, []).append(event(f"ev-{n}", ts))
        for app, evs in by_app.items():
            # a client batch may repeat an id (then it is rejected) or retry one sent earlier
            store(s, evs, received_ms=clock.ms, app_id=app, item_format=item_format)
        clock.ms += gap
        if run_after:
            try:
                make_exporter(s, clock, crash, budget=budget).run_once()
            except HardKill:
                assert_no_stale_rollup_readable(s)
                clock.ms += LEASE_MS + 1  # the dead run's lease must expire first
        # a day later, the closed day's files get compacted (with the crash hook armed)
        if gap > 25 * 60_000:
            clock.ms += DAY
            try:
                make_exporter(s, clock, crash, budget=budget).run_once()
            except HardKill:
                assert_no_stale_rollup_readable(s)
                clock.ms += LEASE_MS + 1
    drain(s, clock)
    assert_exactly_once(s)
    # two days on, every day is closed: the rollups are those of the events, one file each
    clock.ms += 2 * DAY
    make_exporter(s, clock).run_once()
    assert_rollups_match_events(s)
    assert_no_stale_rollup_readable(s, final=True)


def test_two_runs_started_at_once_neither_duplicate_nor_lose(local_stack):
    s = fresh_settings(local_stack)
    clock = Clock(T0)
    for i in range(6):
        store(s, [event(f"e{i}-{j}", clock.ms) for j in range(20)], received_ms=clock.ms - i * 1000)
    clock.ms += 60_000
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def go():
        try:
            barrier.wait()
            reports.append(make_exporter(s, clock).run_once())
        except Exception as exc:  # pragma: no cover - shows in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.status for r in reports) in (["exported", "skipped"], ["exported", "idle"], ["exported", "exported"])
    assert sum(r.events for r in reports) == 120
    drain(s, clock)
    assert_exactly_once(s)


def test_a_client_retry_a_day_later_is_dropped_and_the_first_copy_kept(local_stack):
    s = fresh_settings(local_stack)
    clock = Clock(T0)
    store(s, [event("once", clock.ms - 1000, title="first")], received_ms=clock.ms, item_format="object")  # before the upgrade
    clock.ms += 60_000
    assert make_exporter(s, clock).run_once().events == 1
    clock.ms += 23 * HOUR
    # a retry resends the same event: same id, same client timestamp (the marker only tells copies apart)
    store(s, [event("once", T0 - 1000, title="retry")], received_ms=clock.ms)
    clock.ms += 60_000
    report = make_exporter(s, clock).run_once()
    assert (report.events, report.duplicates_dropped) == (0, 1)
    assert read_lake(s).column("title").to_pylist() == ["first"]


def test_a_backlog_over_budget_fans_out_by_shard_and_commits_once_all_groups_are_done(local_stack):
    # GIVEN a backlog of 60 events and a budget of 20 per invocation
    s = fresh_settings(local_stack).with_(write_shards=4)
    clock = Clock(T0)
    store(s, [event(f"e{i}", clock.ms - 1000) for i in range(60)], received_ms=clock.ms)
    store(s, [event("e7", clock.ms - 1000)], received_ms=clock.ms + 5)  # a retry in the same window
    clock.ms += 60_000
    invoked: list[dict] = []
    coordinator = make_exporter(s, clock, invoke=invoked.append, budget=20)

    # WHEN the scheduled run plans it
    report = coordinator.run_once()

    # THEN it fans out several groups (async invocations) and commits nothing yet; the shard
    # its planning read finished within the budget (group 0) it exported itself, from that read
    assert report.status == "fanned_out" and report.groups >= 3 and len(invoked) == report.groups - 1
    assert sorted(p["group"] for p in invoked) == list(range(1, report.groups)) and report.events > 0
    assert read_lake(s).num_rows == report.events  # group 0 only: its data files, not yet committed
    # WHEN the workers run, at once, and one payload is delivered twice
    workers = [threading.Thread(target=make_exporter(s, clock).run_worker, args=(p,)) for p in invoked + invoked[:1]]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    # THEN the next scheduled run commits, and the lake holds each event once
    clock.ms += 60_000
    assert make_exporter(s, clock, invoke=invoked.append, budget=20).run_once().status in ("exported", "idle")
    drain(s, clock)
    assert_exactly_once(s)
    assert read_lake(s).num_rows == 60


POINTS_IN_GROUP_0 = ["after_data_file", "after_index", "after_mark_done"]


@pytest.mark.parametrize(
    "crash_point, fan_out",
    [(p, False) for p in ["after_begin", *POINTS_IN_GROUP_0, "before_commit"]]
    + [(p, True) for p in ["after_begin", *POINTS_IN_GROUP_0]],  # a coordinator that fans out never commits itself
)
def test_a_backlog_over_budget_exported_partly_from_the_planning_read_survives_a_crash(local_stack, crash_point, fan_out):
    # GIVEN a first run over 30 events in 4 shards with a budget of 12: the planning read stops
    # past 12 and keeps the shards it finished as group 0, exported from what it read (inline,
    # or by the coordinator while workers take the other groups)
    s = fresh_settings(local_stack).with_(write_shards=4)
    clock = Clock(T0)
    store(s, [event(f"c{i}", clock.ms - 1000) for i in range(30)], received_ms=clock.ms)
    store(s, [event("c3", clock.ms - 1000)], received_ms=clock.ms + 5)  # a retry in the same window
    clock.ms += 60_000
    crashed: list[str] = []
    invoked: list[dict] = []

    def crash(point):
        if point == crash_point and not crashed:
            crashed.append(point)
            raise HardKill(point)

    # WHEN that run dies at the crash point, the workers it invoked run, and later runs (new
    # processes: nothing kept) go on
    with pytest.raises(HardKill):
        make_exporter(s, clock, crash, budget=12, invoke=invoked.append if fan_out else None).run_once()
    pending = make_exporter(s, clock).state.read().pending
    assert pending is not None and len(pending.groups) >= 2
    # fanned out: the workers of groups 1.. were invoked before the coordinator began group 0
    workers = list(range(1, len(pending.groups))) if fan_out and crash_point in POINTS_IN_GROUP_0 else []
    assert sorted(p["group"] for p in invoked) == workers
    for payload in invoked:
        make_exporter(s, clock).run_worker(payload)
    clock.ms += LEASE_MS + 1
    drain(s, clock)

    # THEN the lake holds each event once
    assert_exactly_once(s)
    assert read_lake(s).num_rows == 30


def test_an_erasure_finishing_a_fanned_out_run_waits_for_its_live_worker_and_nothing_erased_comes_back(local_stack):
    """A CLI erasure's ``Exporter.exclusive`` finishes a fanned-out pending run itself while the
    Lambda worker invoked for a group may still be running. A worker that read the subject's
    items before the erasure deleted them, and writes after the erasure rewrote the lake, would
    bring the erased rows back (and double every other). The worker claims its group in one
    conditional write before it reads (``StateStore.claim``): the erasure runs only the unclaimed
    groups, waits for the worker's ``mark_done``, then commits and erases."""
    s = fresh_settings(local_stack).with_(write_shards=4)
    clock = Clock(T0)
    # GIVEN a backlog over budget, over two days, partly of the subject's, fanned out
    rows = [event(f"e{i}", clock.ms - (1000 if i % 2 else 26 * HOUR), user_id="u-x" if i % 3 == 0 else ABSENT) for i in range(60)]
    store(s, rows, received_ms=clock.ms)
    clock.ms += 60_000
    invoked: list[dict] = []
    assert make_exporter(s, clock, invoke=invoked.append, budget=20).run_once().status == "fanned_out"
    payload = invoked[0]
    erasure: list[threading.Thread] = []
    erased: list[LedgerEntry] = []

    def erasure_meanwhile(point: str) -> None:
        # WHEN the worker has written its first file and is slow (a cold S3 connection, a GC
        # pause), and meanwhile an erasure of u-x starts from the CLI (invoke=None)
        if point != "after_data_file" or erasure:
            return
        eraser = make_exporter(s, Clock(clock.ms + 1_000), owner="eraser")

        def run() -> None:
            erased.append(erase(eraser, Subject("app-a", "user_id", "u-x"), "test", wait_s=60))

        erasure.append(threading.Thread(target=run))
        erasure[0].start()
        # the worker goes on once the erasure is done or waits for this group alone
        state = eraser.state
        while erasure[0].is_alive():
            pending, (owner, _) = state.read().pending, state.lease()
            if owner == "eraser" and pending is not None and set(range(len(pending.groups))) - pending.done == {payload["group"]}:
                break
            time.sleep(0.05)

    try:
        make_exporter(s, clock, crash=erasure_meanwhile).run_worker(payload)
    except LeaseLost:  # its mark_done, if the run was committed without it: its files are written by then
        pass
    erasure[0].join(timeout=120)
    # THEN the erasure is done, the erased person has no row in the lake, and no row is doubled
    assert erased and erased[0].status == "done"
    lake_rows = read_lake(s)
    ids = lake_rows.column("event_id").to_pylist()
    resurrected = lake_rows.column("user_id").to_pylist().count("u-x")
    assert (resurrected, len(ids) - len(set(ids)), len(ids)) == (0, 0, 40), "(erased rows back, rows doubled, rows)"


def test_work_needing_the_lease_waits_for_a_live_worker_s_claim_and_says_so_when_out_of_time(local_stack):
    """A group claimed by a live worker is not run by anyone else: a duplicate delivery does
    nothing, and ``Exporter.exclusive`` that cannot wait for it raises ``PendingRunBusy`` (lease
    released, run not committed). Once the claim has expired (the worker ended at its function's
    timeout, shorter than the claim) the group is run inline and the run committed once."""
    s = fresh_settings(local_stack).with_(write_shards=4)
    clock = Clock(T0)
    store(s, [event(f"w{i}", clock.ms - 1000) for i in range(60)], received_ms=clock.ms)
    clock.ms += 60_000
    invoked: list[dict] = []
    assert make_exporter(s, clock, invoke=invoked.append, budget=20).run_once().status == "fanned_out"
    worker = make_exporter(s, clock)
    pending = worker.state.read().pending
    assert pending is not None
    # GIVEN a worker that claimed its group, then hangs
    assert worker.state.claim(pending.seq, invoked[0]["group"], worker.owner, clock.ms, LEASE_MS, worker=True)
    # THEN a second delivery of its payload does nothing
    assert make_exporter(s, clock).run_worker(invoked[0]) is None
    # WHEN an operator's work needs the lease and cannot wait
    with pytest.raises(PendingRunBusy, match=f"export run {pending.seq} still has groups"):
        with make_exporter(s, clock).exclusive(wait_s=0):
            pytest.fail("the session must not start before the run is committed")
    # THEN the lease is free and the run still pending
    assert worker.state.lease() == (None, None) and worker.state.read().pending is not None
    # WHEN the worker's claim has expired
    clock.ms += LEASE_MS + 1
    with make_exporter(s, clock).exclusive(wait_s=0) as session:
        # THEN the run is committed before the session starts, each event once
        assert session.seq == pending.seq and worker.state.read().pending is None
    assert_exactly_once(s)
    assert read_lake(s).num_rows == 60
