"""Daily salts for cookieless visitor ids: stable within a day, new the next, unrecoverable after."""

from __future__ import annotations

from datetime import datetime, timezone

from chalicelib import clients
from chalicelib.privacy.cookieless import SaltStore, derive
from chalicelib.store import keys

HOUR = 3_600_000
DAY = 24 * HOUR
T = int(datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc).timestamp() * 1000)
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15"


class Clock:
    def __init__(self, ms):
        self.ms = ms

    def __call__(self):
        return self.ms / 1000


def visitor(store, event_ms, ip="81.2.69.142"):
    return derive(store.salt_for(event_ms), "shop", ip, UA)


def salts_in_table(settings):
    items = clients.dynamodb(settings).query(TableName=settings.table, **keys.partition_query(keys.SALTS_PK))["Items"]
    return {i["sk"]["S"]: i["salt"]["S"] for i in items}


def test_one_id_within_a_day_a_new_one_the_next_and_other_visitors_differ(settings):
    clock = Clock(T)
    store = SaltStore(clients.dynamodb(settings), settings.table, clock=clock)
    morning = visitor(store, T - 6 * HOUR)
    # another API instance (fresh cache) derives the same id the same day
    other = SaltStore(clients.dynamodb(settings), settings.table, clock=clock)
    assert visitor(other, T + 3 * HOUR) == morning
    assert visitor(store, T, ip="81.2.69.143") != morning
    clock.ms += DAY
    assert visitor(store, T + DAY) != morning


def test_an_event_from_before_midnight_delivered_after_keeps_yesterdays_id(settings):
    clock = Clock(T)
    store = SaltStore(clients.dynamodb(settings), settings.table, clock=clock)
    before_midnight = T + 8 * HOUR + 50 * 60_000  # 23:50
    evening_id = visitor(store, before_midnight)
    clock.ms = before_midnight + 12 * 60_000  # 00:02 next day: the beacon arrives
    assert visitor(store, before_midnight) == evening_id
    assert visitor(store, clock.ms) != evening_id


def test_salts_are_random_kept_48h_then_gone_so_nothing_stored_recomputes_an_id(settings):
    clock = Clock(T)
    store = SaltStore(clients.dynamodb(settings), settings.table, clock=clock)
    first = visitor(store, T)
    day1 = datetime.fromtimestamp(T / 1000, tz=timezone.utc).date().isoformat()
    salt1 = salts_in_table(settings)[day1]
    # not derivable from the date: a second table gets a different salt for the same day
    assert len(bytes.fromhex(salt1)) == 32
    # two days later the first day's salt has been deleted by the code itself (no TTL needed)
    clock.ms += 2 * DAY
    visitor(store, clock.ms)
    assert day1 not in salts_in_table(settings)
    # and every live salt gives a different id for the same visitor
    assert all(derive(bytes.fromhex(s), "shop", "81.2.69.142", UA) != first for s in salts_in_table(settings).values())


def test_two_tables_get_unrelated_salts_for_the_same_day(settings, local_stack):
    from chalicelib.settings import from_env
    from clickstream.admin.tables import ensure_table

    other = from_env({**local_stack.env(), "CLICKSTREAM_TABLE": settings.table + "-b"})
    ensure_table(clients.dynamodb(other), other.table)
    a = SaltStore(clients.dynamodb(settings), settings.table, clock=Clock(T)).salt_for(T)
    b = SaltStore(clients.dynamodb(other), other.table, clock=Clock(T)).salt_for(T)
    assert a != b
