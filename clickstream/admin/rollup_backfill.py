"""Roll up a lake exported before the rollups existed (or after a rollup table was added).

Such a lake has events but no rollup files and nothing in the dirty set, so the export's
housekeeping would never build its past days (readers stay correct: with no rollup_state they
read raw events). ``mark_existing`` puts every events day of the chosen apps in the dirty set,
under the export lease; the next export runs' housekeeping then builds them, a closed day at a
time, and publishes rolled_through once they are done (chalicelib/export/rollups.py). With
``build=True`` it rebuilds them here and now, under the same lease (no Lambda time limit; the
lease is renewed after each day). Marking is idempotent: running it twice only rebuilds again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from chalicelib.export import rollups
from chalicelib.export.run import Exporter
from chalicelib.lake import layout
from chalicelib.lake.parquetio import Lake


@dataclass
class RollupBackfill:
    days: dict[str, int] = field(default_factory=dict)  # app -> events days marked
    built: int = 0  # days rebuilt now (build=True)


def lake_apps(lake: Lake, prefix: str) -> list[str]:
    """Apps with events files (a full listing: an operator's one-off, and s3rver answers a
    delimited LIST one level above the partitions with no common prefixes)."""
    base = layout.dataset_prefix(prefix, "events")
    return sorted(
        {layout.partition_of(o["Key"])[0] for o in lake.list(base) if layout.PARTITION_FILE.fullmatch(o["Key"][len(base) :])}
    )


def event_days(lake: Lake, prefix: str, app_id: str) -> list[date]:
    base = layout.app_prefix(prefix, "events", app_id)
    return sorted(
        date.fromisoformat(layout.partition_of(e["Prefix"])[1])
        for e in lake.list(base, delimiter="/")
        if e.get("Prefix", "").startswith(base + "dt=")
    )


def mark_existing(
    exporter: Exporter, app_ids: list[str] | None = None, build: bool = False, wait_s: float = 60.0
) -> RollupBackfill:
    report = RollupBackfill()
    with exporter.exclusive(wait_s=wait_s) as session:
        prefix = session.settings.lake_prefix
        for app in app_ids or lake_apps(session.lake, prefix):
            days = event_days(session.lake, prefix, app)
            rollups.mark(session.table, session.settings.table, [(app, d) for d in days])
            report.days[app] = len(days)
        if build:

            def renew_after_each_day(point: str) -> None:
                session.crash(point)
                if point == "rollup_after_clean":
                    session.renew()

            report.built = rollups.rebuild_due(
                session.lake, session.table, session.settings, exporter.now_ms(), renew_after_each_day
            )
    return report
