"""Live view cost: DynamoDB read and write units per poll of GET /v1/live, and per event.

    .venv/bin/python -m bench live [--events 0,3000,30000]

For each load (events received evenly over the last 30 minutes, spread over the benchmark's
apps, 16 write shards as in production), on the local DynamoDB (dynalite, which reports
ConsumedCapacity by DynamoDB's rules: 4 KB read units, consistent reads, per Query page):

* cold poll: nobody watched before, so every settled minute is summarised from raw events
  and its summary written (what the first viewer after a quiet spell pays);
* warm poll: the next poll, summaries read, the unsettled tail (settle delay + running minute)
  read raw;
* next-minute poll: a minute later, one more minute settles: one summary written.

The per-event figure is the warm poll's raw read units above an empty table's, divided by the
events (of all apps) in the raw tail: what each event costs each poll while it is unsettled.
Goal: a warm poll reads a fixed number of summary items, so its cost does not grow with the
settled minutes' traffic (warm read units at the largest load < 25% of the cold poll's).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

from bench import _lakebench as lb

GOAL = 0.25


def run(loads: Sequence[int]) -> dict[str, Any]:
    from chalicelib import clients
    from chalicelib.live import summary
    from chalicelib.live.service import snapshot

    rows = []
    with lb.local_stack() as stack:
        for n in loads:
            settings = lb.stack_settings(stack)
            now = int(time.time() * 1000)
            if n:
                lb.load(settings, lb.make_items(n, settings, now - 30 * 60_000, now - 1_000))
            app = lb.APPS[0]
            client = clients.dynamodb(settings)
            cold_body, cold = snapshot(client, settings, app, now)
            _, warm = snapshot(client, settings, app, now + 1_000)
            _, nxt = snapshot(client, settings, app, now + 61_000)
            p = summary.plan(now + 1_000, settings.settle_seconds * 1000)
            tail_events = n * (now + 1_000 - p.raw_from_ms) // (30 * 60_000)
            rows.append(
                {
                    "events_30min": n,
                    "tail_events_all_apps": tail_events,
                    "visitors_now": cold_body["current"]["visitors"],
                    "cold": cold.as_dict(),
                    "warm": warm.as_dict(),
                    "next_minute": nxt.as_dict(),
                }
            )
    base = rows[0]["warm"]["read_units"] if rows and rows[0]["events_30min"] == 0 else 0.0
    for r in rows:
        r["warm_read_units_per_tail_event"] = (
            round((r["warm"]["read_units"] - base) / r["tail_events_all_apps"], 4) if r["tail_events_all_apps"] else None
        )
    return {"loads": rows, "uptime": os.getloadavg(), "machine": lb.machine()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="0,3000,30000", help="events received in the last 30 minutes, comma-separated loads")
    args = lb.parse_args(parser, argv, "live")
    result = run([int(x) for x in args.events.split(",")])
    for r in result["loads"]:
        print(
            f"{r['events_30min']:>7} events/30 min: cold poll {r['cold']['read_units']:>8.1f} RU "
            f"{r['cold']['write_units']:>5.1f} WU "
            f"({r['cold']['queries']} queries) | warm poll {r['warm']['read_units']:>6.1f} RU ({r['warm']['queries']} queries, "
            f"{r['warm']['summaries_read']} summaries) | next minute {r['next_minute']['read_units']:>6.1f} RU "
            f"{r['next_minute']['write_units']:.1f} WU | {r['warm_read_units_per_tail_event']} RU per unsettled event per poll"
        )
    print(f"load average {result['uptime']}")
    lb.emit(result, getattr(args, "json", None))
    big = result["loads"][-1]
    ok = big["warm"]["read_units"] < GOAL * max(big["cold"]["read_units"], 1e-9)
    print(f"goal (warm < {GOAL:.0%} of cold at {big['events_30min']} events): {'met' if ok else 'missed'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
