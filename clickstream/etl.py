"""`clickstream etl run|backfill|create-tables`: the export's command-line doors."""

from __future__ import annotations

import json
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
    report = exporter(settings, invoke=None).run_once()
    if as_json:
        click.echo(json.dumps(report.__dict__))
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
    """Apply etl/tables/*.sql (partition projection: no crawler, no MSCK REPAIR)."""
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
