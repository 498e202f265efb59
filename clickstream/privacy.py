"""`clickstream privacy delete|export|ledger`: data rights for one person."""

from __future__ import annotations

import getpass
import json
import sys

import click

from clickstream.target import settings_for


def _subject(app: str, user_id: str | None, anonymous_id: str | None):
    from clickstream.admin.erasure import Subject

    if bool(user_id) == bool(anonymous_id):
        raise click.UsageError("give exactly one of --user-id or --anonymous-id")
    return Subject(app, "user_id", user_id) if user_id else Subject(app, "anonymous_id", anonymous_id)  # type: ignore[arg-type]


@click.group("privacy")
def privacy() -> None:
    """Erase or export one person's data; read the deletion ledger."""


@privacy.command("delete")
@click.option("--app", "app_id", required=True, help="The app id (clickstream apps list).")
@click.option("--user-id", default=None, help="The person's user_id; one of --user-id or --anonymous-id is required.")
@click.option(
    "--anonymous-id", default=None, help="The person's anonymous_id (a browser); one of --user-id or --anonymous-id is required."
)
@click.option("--actor", default=None, help="Who asked (recorded in the ledger); default: the OS user.")
@click.option("--stage", default=None)
def delete(app_id: str, user_id: str | None, anonymous_id: str | None, actor: str | None, stage: str | None) -> None:
    """Remove the person's events from DynamoDB (exported or not), the lake and rejected_events.

    Idempotent and crash-safe: rerun it after any failure. Events that arrive after it are kept.
    """
    from chalicelib.export.handlers import exporter
    from clickstream.admin.erasure import erase

    entry = erase(exporter(settings_for(stage), invoke=None), _subject(app_id, user_id, anonymous_id), actor or getpass.getuser())
    click.echo(
        f"erased from {app_id}: {entry.store_rows_removed} events and {entry.store_rejected_removed} rejected from the store, "
        f"{entry.lake_rows_removed} events and {entry.lake_rejected_removed} rejected from the lake "
        f"({len(entry.files_rewritten)} files rewritten); ledger request {entry.request_id[:16]}"
    )


@privacy.command("export")
@click.option("--app", "app_id", required=True, help="The app id (clickstream apps list).")
@click.option("--user-id", default=None, help="The person's user_id; one of --user-id or --anonymous-id is required.")
@click.option(
    "--anonymous-id", default=None, help="The person's anonymous_id (a browser); one of --user-id or --anonymous-id is required."
)
@click.option("--out", type=click.File("w"), default="-", help="JSON lines file (default: stdout).")
@click.option("--stage", default=None)
def export(app_id: str, user_id: str | None, anonymous_id: str | None, out, stage: str | None) -> None:
    """Write everything held about the person as JSON lines (lake, store, rejected events)."""
    from clickstream.admin.erasure import dumps, export_subject

    count = 0
    for record in export_subject(settings_for(stage), _subject(app_id, user_id, anonymous_id)):
        out.write(dumps(record) + "\n")
        count += 1
    click.echo(f"{count} records", err=True)


@privacy.command("ledger")
@click.option("--stage", default=None)
def ledger(stage: str | None) -> None:
    """Print the deletion ledger as JSON lines (identifiers are keyed hashes, never in clear)."""
    from dataclasses import asdict

    from chalicelib import clients
    from clickstream.admin.ledger import Ledger

    settings = settings_for(stage)
    for entry in Ledger(clients.dynamodb(settings), settings.table).entries():
        sys.stdout.write(json.dumps(asdict(entry)) + "\n")
