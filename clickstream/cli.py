"""`clickstream`: manage apps, run the export, query the lake, deploy dashboards, estimate cost.

Without --stage every command talks to the local stack that `make run` started.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import click

from chalicelib import clients
from chalicelib.errors import ClickstreamError
from chalicelib.settings import Settings
from chalicelib.store.apps import AppStore
from clickstream.target import settings_for

stage_option = click.option("--stage", default=None, help="A deployed stage (dev, prod); default: the local stack.")


def _store(settings: Settings) -> AppStore:
    return AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0)


class Group(click.Group):
    """Turns our errors into a one-line message and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ClickstreamError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=Group)
def main() -> None:
    """Self-hosted clickstream analytics on AWS serverless."""


@main.group(cls=Group)
def apps() -> None:
    """Apps and their write keys."""


@apps.command("create")
@click.argument("name")
@click.option("--origin", "origins", multiple=True, help="An allowed browser origin (repeatable). None: any origin.")
@click.option("--app-id", default=None, help="Choose the app id (default: derived from NAME).")
@click.option("--ip-mode", type=click.Choice(["anonymize", "drop", "keep"]), default="anonymize", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print {app_id, write_key, ...} as JSON.")
@stage_option
def apps_create(name: str, origins: tuple[str, ...], app_id: str | None, ip_mode: str, as_json: bool, stage: str | None) -> None:
    """Create an app and print its id and a new write key (shown only once)."""
    app, key = _store(settings_for(stage)).create_app(name, origins, app_id=app_id, ip_mode=ip_mode)
    if as_json:
        click.echo(
            json.dumps(
                {"app_id": app.app_id, "write_key": key, "name": app.name, "origins": list(app.origins), "ip_mode": app.ip_mode}
            )
        )
    else:
        click.echo(f"app_id:    {app.app_id}\nwrite_key: {key}\n(the key is stored hashed; this is the only time it is shown)")


@apps.command("list")
@click.option("--json", "as_json", is_flag=True)
@stage_option
def apps_list(as_json: bool, stage: str | None) -> None:
    """List apps, their origins and their keys (by prefix)."""
    rows = _store(settings_for(stage)).list_apps()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "app_id": a.app_id,
                        "name": a.name,
                        "origins": list(a.origins),
                        "ip_mode": a.ip_mode,
                        "created_at": a.created_at,
                        "keys": list(a.keys),
                    }
                    for a in rows
                ]
            )
        )
        return
    if not rows:
        click.echo("no apps yet: clickstream apps create NAME --origin https://your.site")
    for a in rows:
        created = datetime.fromtimestamp(a.created_at / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
        live = [k["prefix"] + "…" for k in a.keys if not k["revoked"]]
        click.echo(
            f"{a.app_id:<28} {a.name:<20} created {created}  origins: {', '.join(a.origins) or 'any'}  keys: "
            f"{', '.join(live) or 'none'}"
        )


@apps.command("set")
@click.argument("app_id")
@click.option("--ip-mode", type=click.Choice(["anonymize", "drop", "keep"]), default=None, help="How client IPs are stored.")
@click.option("--retention-days", type=int, default=None, help="Keep the lake's events this many days.")
@click.option("--keep-forever", is_flag=True, help="Remove the retention limit.")
@stage_option
def apps_set(app_id: str, ip_mode: str | None, retention_days: int | None, keep_forever: bool, stage: str | None) -> None:
    """Change an app's IP handling or lake retention."""
    app = _store(settings_for(stage)).update_app(
        app_id, ip_mode=ip_mode, retention_days=retention_days, keep_forever=keep_forever
    )
    retention = f"{app.retention_days} days" if app.retention_days else "forever"
    click.echo(f"{app.app_id}: ip {app.ip_mode}, lake retention {retention}")


@apps.command("revoke")
@click.argument("key")
@stage_option
def apps_revoke(key: str, stage: str | None) -> None:
    """Revoke a write key (events sent with it get 401 within the key cache time, 60 s)."""
    app_id = _store(settings_for(stage)).revoke(key)
    click.echo(f"revoked a key of {app_id}")


@main.command("dev")
def dev() -> None:
    """Run the local stack, API, dashboard, demo and export scheduler (what `make run` calls)."""
    from clickstream.devserver import run

    run()


from clickstream.cost import cost  # noqa: E402
from clickstream.etl import etl  # noqa: E402
from clickstream.privacy import privacy  # noqa: E402
from clickstream.query import query  # noqa: E402
from clickstream.quicksight import quicksight  # noqa: E402
from clickstream.traffic import demo_traffic  # noqa: E402

main.add_command(cost)
main.add_command(etl)
main.add_command(privacy)
main.add_command(quicksight)
main.add_command(query)
main.add_command(demo_traffic)

if __name__ == "__main__":  # pragma: no cover
    main()
