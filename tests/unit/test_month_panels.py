"""The panels that count visitors read the month rows (rollup_visitor_months; decision 0017
step 3) through months_through, and the later days' visitor rows after it; a range longer than
the rows' lookback reads no month row. The equality over random lakes is
tests/unit/test_rollup_equality.py's; these pin down what it cannot show: that the month rows are
what is read, that what they replace is not (the bill: no keyed day row up to them, no key of
them for a range they end), and the edge of the lookback."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from clickstream.lake import billing, prepare
from clickstream.lake.duck import DuckLake
from clickstream.lake.params import NOTHING_ROLLED
from tests.month_helpers import MONTH_PANELS, click, event, rolled_lake
from tests.rollup_helpers import APP, Lake, answers, same


def test_the_visitor_panels_are_the_ones_that_read_the_month_rows():
    assert set(MONTH_PANELS) == {
        *("overview", "browsers", "countries", "devices", "operating_systems", "bot_traffic"),
        *("top_pages", "custom_events", "geo_grid", "entry_pages", "exit_pages", "referrers", "utm_campaigns"),
        "daily_metrics",
        "retention",
    }


def test_visitors_come_from_the_month_rows_through_months_through(tmp_path: Path):
    # GIVEN visitors over two months (one returning across the month's end, one switching
    # browsers, a bot), rolled up and built into month rows
    days = [date(2026, 9, 28), date(2026, 9, 30), date(2026, 10, 1), date(2026, 10, 3)]
    events = [
        event(0, "v1", days[0], "Firefox"),
        event(1, "v1", days[2], "Firefox"),
        event(2, "v2", days[1], "Chrome", referrer_host="news.example", utm_source="news", utm_campaign="launch"),
        event(3, "v2", days[3], "Firefox"),
        event(4, "v3", days[2], "Chrome", referrer_host="news.example"),
        event(5, "bot", days[1], "", bot=True),
        event(6, "bot", days[3], "", bot=True),
        event(7, "v2", days[3], "Firefox", path="/other"),
        # (pages, custom events and positions: one visitor on both sides of the month's end)
        click(8, "v1", days[0], "LIKE_WOOD", geo=(52.52, 13.4)),
        click(9, "v1", days[2], "LIKE_WOOD", geo=(52.54, 13.41)),
        click(10, "v3", days[2], "CLICK_LANG"),
        click(11, "v2", days[1], "LIKE_WOOD", geo=(48.14, 11.58)),
    ]
    lake = rolled_lake(tmp_path, events)
    through = lake.rolled_through()
    assert through >= str(days[-1])
    # AND the keyed visitor-day rows of the rolled-up days gone: only the month rows hold the
    # visitors of those days (the keyless day totals still hold the events)
    for table in ("rollup_visitor_days", "rollup_page_days", "rollup_event_days", "rollup_geo_days", "rollup_sessions"):
        keyed = list((lake.root / table / f"app_id={APP}").glob("dt=*/*.parquet"))
        assert keyed, table
        for f in keyed:
            f.unlink()
    duck = DuckLake(lake.root)
    for lo, hi in [(days[0], days[3]), (days[1], days[2]), (days[2], days[3])]:
        for bots in (False, True):
            params = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots}
            for name in MONTH_PANELS:
                # WHEN the panel reads the month rows through the last rolled-up day
                modeled = answers(duck, name, {**params, "rolled_through": through, "months_through": through})
                raw = answers(duck, name, {**params, "rolled_through": NOTHING_ROLLED})
                # THEN it counts the visitors the raw events have (read from the month rows alone)
                assert same(modeled, raw), (name, lo, hi, bots, modeled, raw)
    # AND with the month rows not vouched for (months_through before the range) it reads the
    # visitor-day rows, which are gone: the visitors it counts are the ones it lost
    params = {"app_id": APP, "date_from": days[0], "date_to": days[3], "include_bots": False}
    lagging = answers(duck, "overview", {**params, "rolled_through": through, "months_through": NOTHING_ROLLED})
    assert lagging[0]["visitors"] == 0
    assert answers(duck, "overview", {**params, "rolled_through": through, "months_through": through})[0]["visitors"] == 3


@pytest.mark.parametrize(
    "lo,hi",
    [
        (date(2026, 4, 1), date(2026, 8, 31)),  # five calendar months: the month rows' lookback covers it
        (date(2026, 3, 1), date(2026, 8, 31)),  # six: no month row is read
        (date(2026, 3, 15), date(2026, 8, 2)),  # six, the first and last partly: none either
    ],
)
def test_a_range_longer_than_the_lookback_reads_no_month_row(tmp_path: Path, lo: date, hi: date):
    # GIVEN a visitor active in March and again in August (its August row's prev looks back to
    # April: none, so the month rows alone would count it twice over March to August), and
    # another in July
    events = [
        event(0, "v1", date(2026, 3, 20), "Firefox"),
        event(1, "v1", date(2026, 8, 1), "Firefox"),
        event(2, "v2", date(2026, 7, 6), "Chrome"),
    ]
    lake = rolled_lake(tmp_path, events)
    duck = DuckLake(lake.root)
    through = lake.rolled_through()
    params = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": False}
    # WHEN the overview runs over the range with the month rows vouched for
    modeled = answers(duck, "overview", {**params, "rolled_through": through, "months_through": through})
    # THEN v1 counts once, as the raw events say
    assert modeled[0]["visitors"] == 2
    assert same(modeled, answers(duck, "overview", {**params, "rolled_through": NOTHING_ROLLED}))


def only(root: Path, out: Path, tables: set[str]) -> Path:
    """A lake of symlinks to some of ``root``'s tables: what a scan of those tables reads."""
    out.mkdir()
    for table in tables:
        (out / table).symlink_to(root / table)
    return out


KEYED_DAYS = {"rollup_visitor_days", "rollup_page_days", "rollup_event_days", "rollup_geo_days", "rollup_sessions"}


def test_what_the_month_rows_replace_is_not_read(tmp_path: Path):
    # GIVEN a lake over a month's end, rolled up and built into month rows
    days = [date(2026, 9, 28), date(2026, 9, 30), date(2026, 10, 1), date(2026, 10, 3)]
    events = [event(i, f"v{i % 3}", days[i % 4], "Firefox", referrer_host="news.example") for i in range(8)]
    events += [click(8, "v1", days[0], "LIKE_WOOD", geo=(52.52, 13.4)), click(9, "v2", days[2], "CLICK_LANG")]
    lake = rolled_lake(tmp_path / "lake", events)
    through = lake.rolled_through()
    keyed = only(lake.root, tmp_path / "keyed", KEYED_DAYS)
    months = only(lake.root, tmp_path / "months", {"rollup_visitor_months"})
    for name in MONTH_PANELS:
        ended = {"app_id": APP, "date_from": str(days[0]), "date_to": str(days[3]), "rolled_through": through}
        # (the tail: a raw day after the rolled-up ones; none in this lake, which is what is billed)
        running = {**ended, "date_to": str(date.fromisoformat(through) + timedelta(days=1))}
        for params in (ended, running):
            sql, values = prepare(name, {**params, "months_through": through})
            # WHEN the panel reads the month rows through the last rolled-up day
            # THEN it reads none of the keyed day rows the month rows hold (their scans prune them)
            assert billing.estimate(keyed, sql, values).scanned_bytes == 0, name
            # (and it would without the month rows)
            off_sql, off_values = prepare(name, {**params, "months_through": NOTHING_ROLLED})
            assert billing.estimate(keyed, off_sql, off_values).scanned_bytes > 0, name
        # AND a range ended by the month rows reads each month file once: the month arm, no key
        # lookup of the later days (@month_later); a range with later days reads them twice
        ended_bill = billing.estimate(months, *prepare(name, {**ended, "months_through": through}))
        running_bill = billing.estimate(months, *prepare(name, {**running, "months_through": through}))
        assert ended_bill.files == 2 and running_bill.files == 4, (name, ended_bill, running_bill)


def test_retention_from_the_month_rows_over_eight_months_is_the_raw_events(tmp_path: Path, seed: int = 7):
    # GIVEN visitors over eight months who come back after gaps of days to seven months (so that
    # a row's hist1..hist4 all hold days), bots, and a visitor both bot and person on a day;
    # rolled up and built into month rows but for the last five days (raw)
    rng = random.Random(seed)
    first, last = date(2026, 3, 2), date(2026, 10, 30)
    span = (last - first).days
    events, i = [], 0
    for v in range(40):
        bot = v % 9 == 0
        days = {first + timedelta(days=rng.randrange(span + 1)) for _ in range(rng.randint(1, 7))}
        if v % 4 == 0:  # a run of days, then one back months later
            start = first + timedelta(days=rng.randrange(span - 40))
            days |= {start + timedelta(days=k) for k in range(rng.randint(2, 12))}
        for day in sorted(days):
            events.append(event(i, f"v{v}", day, "Firefox", bot=bot))
            i += 1
    events.append(event(i, "v1", sorted(e["event_time"].date() for e in events if e["anonymous_id"] == "v1")[0], "", bot=True))
    lake = Lake(tmp_path, events)
    lake.write_events(lake.days())
    lake.roll({d for d in lake.days() if d <= last - timedelta(days=5)}, 10_000)
    lake.build_months()
    through = lake.rolled_through()
    assert through <= str(last - timedelta(days=5)) and max(lake.days()) > date.fromisoformat(through)
    duck = DuckLake(lake.root)
    overall = pq.read_table(lake.root / "rollup_visitor_months" / f"app_id={APP}" / "dim=overall")
    assert all(pc.max(overall.column(f"hist{i}_people")).as_py() > 0 for i in range(1, 5))  # every hist column holds days
    ranges = [(date(2026, 5, 1), date(2026, 9, 30)), (date(2026, 6, 1), date(2026, 10, 30))]
    ranges += [(date(2026, 5, 31), date(2026, 8, 31)), (date(2026, 3, 4), date(2026, 7, 31))]
    while len(ranges) < 14:
        lo = first + timedelta(days=rng.randrange(span))
        ranges.append((lo, min(last, lo + timedelta(days=rng.randint(0, 155)))))
    compared = 0
    for lo, hi in ranges:
        for bots in (False, True):
            params = {"app_id": APP, "date_from": lo, "date_to": hi, "include_bots": bots}
            raw = answers(duck, "retention", {**params, "rolled_through": NOTHING_ROLLED})
            for months in (through, str(date.fromisoformat(through) - timedelta(days=rng.randint(1, 40)))):
                # WHEN retention reads the month rows through months_through, the day rollups
                # and raw events after
                modeled = answers(duck, "retention", {**params, "rolled_through": through, "months_through": months})
                # THEN its cohorts are the raw events', row for row
                assert same(modeled, raw), (seed, lo, hi, bots, months, modeled, raw)
            compared += len(raw)
    assert compared > 60  # most ranges hold cohorts
