"""The rollups' dirty set is one DynamoDB item per app (keys.rollup_dirty_key), against dynalite
over HTTP. A release that changes the set of rollups marks every day of every app dirty
(rollups.refresh_state); in one item for all apps, a few hundred app-years of days were past
DynamoDB's 400 KB item limit, and every pass failed on that write. An older release's single item
is still read and drained into the per-app items, with nothing lost at any crash between."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib import clients
from chalicelib.export import rollups
from chalicelib.settings import Settings
from chalicelib.store import keys

DAY = date(2024, 1, 1)


def _items(dynamodb, settings: Settings) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    found = dynamodb.query(TableName=settings.table, **keys.partition_query(keys.ROLLUP_PK), ConsistentRead=True)["Items"]
    return {item[keys.SK]["S"]: item for item in found}


def test_every_day_of_many_apps_fits_and_reads_back(settings: Settings):
    # GIVEN 120 apps with two years of days each, all marked dirty (a set change): 87,600 entries,
    # about 2.1 MB as "app/day" strings, five times DynamoDB's item limit
    dynamodb = clients.dynamodb(settings)
    apps = [f"app-{n:03d}-with-a-longish-name" for n in range(120)]
    days = [DAY + timedelta(days=k) for k in range(730)]
    for app in apps:
        rollups.mark(dynamodb, settings.table, [(app, d) for d in days], neighbours=False)
    # THEN every one is dirty (the Query's pages read to the end), one item per app
    assert len(rollups.dirty(dynamodb, settings.table)) == len(apps) * len(days)
    assert len(_items(dynamodb, settings)) == len(apps)


def test_a_cleaned_day_leaves_its_app_stale_until_refreshed(settings: Settings):
    dynamodb = clients.dynamodb(settings)
    rollups.mark(dynamodb, settings.table, [("a", DAY), ("b", DAY)])
    rollups._clean(dynamodb, settings.table, "a", DAY)
    assert ("a", DAY) not in rollups.dirty(dynamodb, settings.table)
    assert ("b", DAY) in rollups.dirty(dynamodb, settings.table)
    assert rollups._stale_apps(dynamodb, settings.table) == {"a"}
    rollups._fresh(dynamodb, settings.table, "a")
    assert rollups._stale_apps(dynamodb, settings.table) == set()
    assert ("a", DAY - timedelta(days=1)) in rollups.dirty(dynamodb, settings.table)  # its neighbours stay


@pytest.mark.parametrize("dies_after", ["nothing", "mark", "stale", "delete"])
def test_an_older_release_s_single_item_is_drained_into_the_apps_items_and_nothing_is_lost(settings: Settings, dies_after: str):
    # GIVEN the item an older release wrote: two apps' days and a stale app
    dynamodb = clients.dynamodb(settings)
    legacy = {"a/2024-01-01", "a/2024-01-02", "b/2024-01-05"}
    dynamodb.update_item(
        TableName=settings.table,
        Key=keys.LEGACY_ROLLUP_DIRTY_KEY,
        UpdateExpression="ADD days :d, stale :a",
        ExpressionAttributeValues={":d": {"SS": sorted(legacy)}, ":a": {"SS": ["b"]}},
    )
    rollups.mark(dynamodb, settings.table, [("c", DAY)], neighbours=False)
    expected = [("a", date(2024, 1, 1)), ("a", date(2024, 1, 2)), ("b", date(2024, 1, 5)), ("c", DAY)]
    # WHEN the drain dies after one of its writes (or not at all), and the next pass drains again
    real = rollups._ddb
    writes = {"mark": 2, "stale": 3, "delete": 4}.get(dies_after)  # a's days, b's days, b stale, legacy delete
    calls = [0]

    def dying(call, **kwargs):  # type: ignore[no-untyped-def]
        if call.__name__ == "update_item":
            if writes is not None and calls[0] == writes:
                raise KeyboardInterrupt("killed")
            calls[0] += 1
        return real(call, **kwargs)

    rollups._ddb = dying  # type: ignore[assignment]
    try:
        rollups.drain_legacy(dynamodb, settings.table)
    except KeyboardInterrupt:
        pass
    finally:
        rollups._ddb = real  # type: ignore[assignment]
    # THEN at every point the dirty days and stale apps are the same, and so are one app's days as
    # its state refresh reads them (its item and the legacy item, not every app's)
    assert rollups.dirty(dynamodb, settings.table) == expected
    assert rollups._stale_apps(dynamodb, settings.table) == {"b"}
    for app in "abc":
        assert rollups.dirty_days(dynamodb, settings.table, app) == [day for owner, day in expected if owner == app]
    rollups.drain_legacy(dynamodb, settings.table)
    assert rollups.dirty(dynamodb, settings.table) == expected
    assert rollups._stale_apps(dynamodb, settings.table) == {"b"}
    # AND the legacy item holds nothing any more; a third drain moves nothing
    left = _items(dynamodb, settings)[keys.LEGACY_ROLLUP_DIRTY_KEY[keys.SK]["S"]]
    assert "days" not in left and "stale" not in left
    assert rollups.drain_legacy(dynamodb, settings.table) == 0
