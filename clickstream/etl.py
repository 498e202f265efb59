"""`clickstream etl run|backfill|rollup|rewrite-codec|create-tables`: the export's command-line doors."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone

import click

from clickstream.target import ROOT, settings_for

ETL_DIR = ROOT / "etl"


def _parse_time(value: str) -> int:
    text = value.strip()
    if text.isdigit():
        return int(text)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp() * 1000)


@click.group("etl")
def etl() -> None:
    """Export DynamoDB to the Parquet lake, re-export windows, create the Athena tables."""


@etl.command("run")
@click.option("--stage", default=None, help="A deployed stage; default: the local stack.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
def etl_run(stage: str | None, as_json: bool) -> None:
    """One export pass now, the same code the schedule runs."""
    from chalicelib.export.handlers import exporter

    settings = settings_for(stage)
    try:
        report = exporter(settings, invoke=None).run_once()
    except KeyboardInterrupt:
        click.echo("interrupted: the export lease is released; the next run finishes the window this one began", err=True)
        sys.exit(130)
    if as_json:
        click.echo(json.dumps(report.__dict__))
        return
    if report.status == "skipped":
        until = report.lease_until_ms
        when = "(lease just freed)"
        if until:
            left_s = max(0, round(until / 1000 - time.time()))
            when = f"until {datetime.fromtimestamp(until / 1000, tz=timezone.utc):%Y-%m-%d %H:%M:%S}Z ({left_s} s from now)"
        click.echo(
            f"skipped: another export run ({report.lease_owner or 'unknown'}) holds the lease {when}; nothing was exported"
        )
        return
    window = ""
    if report.window_hi_ms:
        window = f" up to {datetime.fromtimestamp(report.window_hi_ms / 1000, tz=timezone.utc):%Y-%m-%d %H:%M:%S}Z"
    click.echo(
        f"{report.status}{window}: {report.events} events ({report.duplicates_dropped} duplicates dropped), "
        f"{report.rejected} rejected, {report.files} files in {report.partitions} partitions, {report.bytes:,} bytes; "
        f"lag {report.lag_s if report.lag_s is not None else '-'} s; {report.compacted_partitions} partitions compacted; "
        f"{report.duration_s} s"
    )


@etl.command("backfill")
@click.option("--since", required=True, help="Start of the received-time window (ISO-8601 or epoch ms), exclusive.")
@click.option("--until", required=True, help="End of the window, inclusive.")
@click.option("--stage", default=None)
def etl_backfill(since: str, until: str, stage: str | None) -> None:
    """Re-export a received-time window idempotently (items still in the table only)."""
    from chalicelib.export.handlers import exporter
    from clickstream.admin.backfill import backfill, hours

    lo, hi = _parse_time(since), _parse_time(until)
    if hi <= lo:
        raise click.BadParameter("--until must be after --since")
    settings = settings_for(stage)
    with click.progressbar(length=len(hours(lo, hi)), label="re-exporting hours") as bar:
        report = backfill(exporter(settings, invoke=None), lo, hi, progress=bar.update)
    click.echo(f"backfilled {report.events} events and {report.rejected} rejected into {report.partitions} partitions")


@etl.command("rollup")
@click.option("--app", "app_ids", multiple=True, help="Only this app (repeatable); default: every app in the lake.")
@click.option("--now", "build", is_flag=True, help="Build them here and now under the export lease, not in the next runs.")
@click.option("--stage", default=None)
def etl_rollup(app_ids: tuple[str, ...], build: bool, stage: str | None) -> None:
    """Roll up the days already in the lake (a lake exported before the rollups existed).

    Marks every events day dirty, so the next export runs build their rollups (or --now builds
    them at once); until then the dashboard reads raw events for them, with the same answers.
    """
    from chalicelib.export.handlers import exporter
    from clickstream.admin.rollup_backfill import mark_existing
    from clickstream.lake.params import ParamError, convert

    for app in app_ids:
        try:
            convert("app_id", app)
        except ParamError as exc:
            raise click.BadParameter(str(exc), param_hint="--app") from None
    report = mark_existing(exporter(settings_for(stage), invoke=None), list(app_ids) or None, build=build)
    marked = ", ".join(f"{app} {n}" for app, n in report.days.items()) or "no app has events"
    then = f"built {report.built} days now" if build else "the next export runs' housekeeping builds the closed ones"
    click.echo(f"marked the events days for a rollup rebuild ({marked}); {then}")


@etl.command("rewrite-codec")
@click.option("--stage", default=None)
@click.option("--dry-run", is_flag=True, help="List the files that need it, change nothing.")
def etl_rewrite_codec(stage: str | None, dry_run: bool) -> None:
    """Rewrite lake files in a codec the Lambda layer cannot read (zstd, lz4, brotli) as snappy.

    Needed once for a lake written before the codec rule (docs/deploy.md); holds the export lease.
    """
    from chalicelib.export.handlers import exporter
    from clickstream.recode import LAKE_CODEC, rewrite_unreadable

    settings = settings_for(stage)
    ex = exporter(settings, invoke=None)
    with ex.exclusive():
        report = rewrite_unreadable(ex.lake, settings.lake_prefix, dry_run=dry_run, progress=lambda key: click.echo(f"  {key}"))
    verb = "would rewrite" if dry_run else "rewrote"
    found = ", ".join(f"{codec} {n}" for codec, n in sorted(report.codecs_found.items())) or "none"
    click.echo(f"{verb} {len(report.rewritten)} of {report.scanned} files as {LAKE_CODEC} (codecs found: {found})")


def ddl_statements(settings_bucket: str, prefix: str, database: str) -> list[tuple[str, str]]:
    """(file name, SQL) for every table DDL in etl/tables, with the lake location filled in."""
    out = []
    for path in sorted((ETL_DIR / "tables").glob("*.sql")):
        sql = path.read_text()
        location = f"s3://{settings_bucket}/{prefix.strip('/')}" if prefix.strip("/") else f"s3://{settings_bucket}"
        out.append((path.name, sql.replace("${LAKE}", location).replace("${DATABASE}", database)))
    return out


@etl.command("create-tables")
@click.option("--stage", default=None, help="A deployed stage: runs the DDL on Athena. Default: print it.")
@click.option("--workgroup", default=None, help="Athena workgroup (default: clickstream-<stage>).")
def etl_create_tables(stage: str | None, workgroup: str | None) -> None:
    """The lake's Athena tables (etl/tables/*.sql, partition projection: no crawler, no MSCK REPAIR) and views.

    Locally (no --stage) it prints the DDL and creates nothing: DuckDB reads the lake's Hive
    layout directly, so `clickstream query` needs no tables. With --stage it applies the
    tables and then the views on Athena, in that stage's workgroup.
    """
    settings = settings_for(stage)
    statements = ddl_statements(settings.bucket, settings.lake_prefix, settings.glue_database)
    if not stage or stage == "local":
        for name, sql in statements:
            click.echo(f"-- {name}\n{sql}")
        click.echo("-- locally DuckDB reads the Hive layout directly; these run on Athena with --stage")
        return
    from clickstream.athena import run_ddl

    for name, sql in statements:
        run_ddl(sql, settings, workgroup or f"clickstream-{stage}")
        click.echo(f"applied {name}")
    from clickstream.lake.athena import view_statements

    for name, sql in view_statements():  # in dependency order
        run_ddl(sql, settings, workgroup or f"clickstream-{stage}")
        click.echo(f"applied view {name}")
