"""The rollups' published state (chalicelib/export/rollups.py): what a refresh writes, what a
reader takes, and the Glue table Athena and QuickSight read it through."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from chalice.package import YAMLTemplateSerializer
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from chalicelib.export import rollups
from chalicelib.lake import rollup, visitor
from clickstream.lake import catalog
from clickstream.lake.params import NOTHING_ROLLED
from clickstream.target import ROOT

D0 = date(2026, 11, 1)


def day(k: int) -> str:
    return (D0 + timedelta(days=k)).isoformat()


def test_the_state_covers_what_every_table_holds_and_stops_before_the_first_dirty_day():
    events = [day(k) for k in range(6)]
    every = [day(k) for k in range(-1, 6)]
    assert rollups.covered_through(events, [every, every, every], []) == day(5)
    # a table one day short (a crash between two PUTs, or a table a release added): not that day
    assert rollups.covered_through(events, [every, every[:-1], every], []) == day(4)
    assert rollups.covered_through(events, [every, [], every], []) == NOTHING_ROLLED
    # a dirty day and everything after it: raw events
    assert rollups.covered_through(events, [every] * 3, [D0 + timedelta(days=3), D0 + timedelta(days=9)]) == day(2)
    assert rollups.covered_through(events, [every] * 3, [D0]) == day(-1)
    # a day with events and no rollup stops it, even if later days have theirs
    assert rollups.covered_through(events, [[d for d in every if d != day(2)]] * 3, []) == day(1)


@given(
    st.sets(st.integers(0, 20)),
    st.lists(st.sets(st.integers(-1, 21)), min_size=1, max_size=4),
    st.sets(st.integers(-1, 22)),
)
def test_no_day_up_to_the_state_is_dirty_or_missing_a_table(event_ks, table_ks, dirty_ks):
    events = [day(k) for k in event_ks]
    tables = [[day(k) for k in ks] for ks in table_ks]
    dirty = [D0 + timedelta(days=k) for k in dirty_ks]
    through = rollups.covered_through(events, tables, dirty)
    for k in range(-1, 23):
        if day(k) <= through:
            assert D0 + timedelta(days=k) not in dirty
            if day(k) in events:
                assert all(day(k) in t for t in tables)


def test_readers_take_the_least_file_and_none_is_nothing_rolled():
    assert rollups.NOTHING_ROLLED == NOTHING_ROLLED  # the export's and the query parameters' default
    tag = rollups.STATE_TAG
    assert rollups.least([]) is None
    assert rollups.least([(tag, "2026-11-20"), (None, "2026-11-03")]) == "2026-11-03"  # a hold lower
    assert rollups.values_of(rollups.state_table("2026-11-20")) == [(tag, "2026-11-20")]
    assert rollups.values_of(rollups.state_table("2026-11-03", vouches=None)) == [(None, "2026-11-03")]


def test_a_state_of_another_set_of_rollups_is_not_trusted():
    """A release that adds a rollup table or a spec funnel: the files of the days rolled up before
    hold nothing for it, so until this release has published its own state readers read raw."""
    tag = rollups.STATE_TAG
    assert rollups.least([("0123456789", "2026-11-20")]) == NOTHING_ROLLED
    assert rollups.least([("0123456789", "2026-11-20"), (None, "2026-11-25")]) == NOTHING_ROLLED
    # Only a hold (no state at all yet): raw events only, a hold is a lower bound, not a state.
    assert rollups.least([(None, "2026-11-25")]) == NOTHING_ROLLED
    # Once this release's state is there, another set's state says nothing about it.
    assert rollups.least([("0123456789", "2026-11-10"), (tag, "2026-11-20")]) == "2026-11-20"
    # The tag covers the funnels too: a funnel added to the spec is a new set.
    assert rollups.STATE_FILE == f"state-{tag}.parquet" and len(tag) == 10
    assert rollups.STATE_FILE.startswith(rollups.STATE_PREFIX) and not rollups._replaced(rollups.STATE_FILE)
    assert rollups._replaced("hold-0000000007-000.parquet") and rollups._replaced("state-0123456789.parquet")


def test_a_state_of_the_release_before_the_columns_counted_is_not_trusted():
    """Before visitor_key (decision 0015) the tag covered the tables and funnels only: a state that
    release wrote vouches for files without the column, so readers read raw until the days are
    rebuilt. Any later change to a column's name or type is a new set too."""
    old = rollups.state_tag(rollups.WRITE_ORDER, rollup.FUNNELS, None)
    assert old == hashlib.sha256(repr((rollups.WRITE_ORDER, rollup.FUNNELS)).encode()).hexdigest()[:10]
    assert old != rollups.STATE_TAG
    assert rollups.least([(old, "2026-11-20")]) == NOTHING_ROLLED
    assert rollups.least([(old, "2026-11-20"), (rollups.STATE_TAG, "2026-11-02")]) == "2026-11-02"

    schemas = dict(rollups.TAGGED_SCHEMAS)
    assert rollups.state_tag(rollups.TAGGED, rollup.FUNNELS, schemas, rollups.SESSION_RULE) == rollups.STATE_TAG
    without_key = rollup.VISITOR_DAYS.remove(rollup.VISITOR_DAYS.get_field_index("visitor_key"))
    retyped = rollup.PAGE_DAYS.set(rollup.PAGE_DAYS.get_field_index("visitor_key"), pa.field("visitor_key", pa.string()))
    for name, schema in (("rollup_visitor_days", without_key), ("rollup_page_days", retyped)):
        changed = {**schemas, name: schema}
        assert rollups.state_tag(rollups.TAGGED, rollup.FUNNELS, changed, rollups.SESSION_RULE) != rollups.STATE_TAG
    # The release before the month grain (decision 0017 step 2) is another set: its states are
    # not trusted, and the first refresh re-rolls every day, which marks every month.
    before_months = rollups.state_tag(rollups.WRITE_ORDER, rollup.FUNNELS, rollup.SCHEMAS, rollups.SESSION_RULE)
    assert before_months != rollups.STATE_TAG


def test_a_state_of_another_session_rule_is_not_trusted():
    """The rollup files hold sessions cut by the rule of the release that built them (the gap, the
    order of ties, which messages are no user action: chalicelib/lake/rollup.py; whose sessions they
    are: chalicelib/lake/visitor.py). A release that
    changes any of it, with no column changed, is a new set: readers read raw until the days are
    rebuilt under the new rule. The release before the rule counted is another set too."""
    rule = dict(rollups.SESSION_RULE)
    assert rule == {
        "visitor": visitor.VISITOR_SQL,
        "gap_ms": rollup.GAP_MS,
        "session_order": rollup.SESSION_ORDER,
        "not_actions": rollup.NOT_ACTIONS,
    }

    def tag(**changed: object) -> str:
        return rollups.state_tag(rollups.TAGGED, rollup.FUNNELS, rollups.TAGGED_SCHEMAS, {**rule, **changed})

    assert tag() == rollups.STATE_TAG
    for changed in (
        {"gap_ms": 15 * 60 * 1000},
        {"session_order": tuple(reversed(rollup.SESSION_ORDER))},
        {"session_order": rollup.SESSION_ORDER[:-1]},
        {"not_actions": (*rollup.NOT_ACTIONS, "screen")},
        {"not_actions": rollup.NOT_ACTIONS[1:]},
        {"visitor": "anonymous_id"},  # the rule before decision 0016: userId-only events were one visitor
    ):
        assert tag(**changed) != rollups.STATE_TAG, changed
    before = rollups.state_tag(rollups.WRITE_ORDER, rollup.FUNNELS, rollup.SCHEMAS)
    assert before != rollups.STATE_TAG
    assert rollups.least([(before, "2026-11-20")]) == NOTHING_ROLLED


def test_the_ddl_and_the_glue_table_say_what_the_state_files_hold():
    text = (catalog.ETL_DIR / "tables" / f"{rollups.STATE_TABLE}.sql").read_text()
    create = sqlglot.parse_one(text.replace("${DATABASE}", "db").replace("${LAKE}", "s3://b/p"), read="hive")
    columns = [c.name for c in create.this.expressions if isinstance(c, exp.ColumnDef)]
    assert columns == [f.name for f in rollups.STATE_SCHEMA]
    assert "'${LAKE}/rollup_state/app_id=${app_id}/'" in text and "'projection.app_id.type' = 'injected'" in text

    path = ROOT / "deploy" / "resources.yaml"
    template = YAMLTemplateSerializer().load_template(path.read_text(), str(path))
    table: dict[str, Any] = template["Resources"]["RollupStateGlueTable"]["Properties"]["TableInput"]
    assert table["Name"] == rollups.STATE_TABLE
    assert [k["Name"] for k in table["PartitionKeys"]] == ["app_id"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [f.name for f in rollups.STATE_SCHEMA]
    assert table["Parameters"]["projection.app_id.type"] == "injected"


@pytest.mark.parametrize("name", rollups.WRITE_ORDER)
def test_the_state_vouches_for_every_rollup_table(name: str):
    assert name in rollup.SCHEMAS and set(rollups.WRITE_ORDER) == set(rollup.SCHEMAS)


def test_a_pass_with_failed_days_raises_once_of_the_kind_that_says_whether_a_retry_may_help():
    """``rollups.raise_for``: nothing failed, nothing raised; terminal only if every failure is
    (a retry would fail them all again); anything else, a retry may help: transient."""
    from chalicelib.errors import StorageUnavailable, TerminalError, TransientError
    from chalicelib.lake.spill import SpillFailed

    rollups.raise_for([])
    too_big = ("big", D0, SpillFailed("spilling big/2026-11-01 failed: No space left on device"))
    throttled = ("shop", D0, StorageUnavailable("SlowDown"))
    unknown = ("shop", None, ValueError("not ours"))
    for failures, kind in (
        ([too_big], TerminalError),
        ([too_big, throttled], TransientError),
        ([unknown], TransientError),
    ):
        with pytest.raises(rollups.DaysNotRebuilt) as raised:
            rollups.raise_for(failures)
        assert isinstance(raised.value, kind) and raised.value.failures == failures
        assert raised.value.__cause__ is failures[0][2]
    assert "big/2026-11-01: SpillFailed" in str(rollups.DaysNotRebuiltTerminal([too_big]))
    assert "shop/state: ValueError" in str(rollups.DaysNotRebuiltTransient([unknown]))
    # an erasure fails for its own app's failures only (clickstream/admin/erasure.py), of their kind
    both = rollups.DaysNotRebuiltTransient([too_big, throttled])
    both.raise_for_app("other")
    with pytest.raises(rollups.DaysNotRebuiltTerminal) as raised:
        both.raise_for_app("big")
    assert raised.value.failures == [too_big]
    with pytest.raises(rollups.DaysNotRebuiltTransient):
        both.raise_for_app("shop")


def test_a_pass_starts_a_day_only_if_it_may_end_in_the_time_left():
    """``rollups.next_step``: "stop" once the longest day this pass rebuilt would not fit again
    (any later day may be as long); "skip" a day whose size alone says it would not fit (a
    smaller one after it still may); else "start". The size is asked only when it could matter."""
    per_million = rollups.MS_PER_MILLION_ROWS
    assert rollups.next_step(300_000, 0, None) == "start"
    assert rollups.next_step(300_000, 100_000, None) == "start"
    assert rollups.next_step(99_999, 100_000, None) == "stop"
    assert rollups.next_step(99_999, 100_000, 10) == "stop"
    assert rollups.next_step(-1, 0, None) == "stop"
    assert rollups.next_step(per_million * 3, 0, 3_000_000) == "start"
    assert rollups.next_step(per_million * 3 - 1, 0, 3_000_000) == "skip"
    assert rollups.next_step(per_million * 3 - 1, 0, 1_000_000) == "start"
