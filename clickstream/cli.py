"""`clickstream`: manage apps, run the export, query the lake, deploy dashboards, estimate cost.

Without --stage every command talks to the local stack that `make run` started.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ConnectionClosedError, EndpointConnectionError

from chalicelib import clients
from chalicelib.errors import ClickstreamError
from chalicelib.settings import Settings
from chalicelib.store.apps import AppStore
from clickstream.target import local_value, settings_for

stage_option = click.option("--stage", default=None, help="A deployed stage (dev, prod); default: the local stack.")


def _store(settings: Settings) -> AppStore:
    return AppStore(clients.dynamodb(settings), settings.table, cache_seconds=0)


class Group(click.Group):
    """Turns our errors into a one-line message and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        on_main = ctx.parent is None and threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if on_main else None
        try:
            return super().invoke(ctx)
        except (ClickstreamError, BotoCoreError) as exc:
            click.echo(f"error: {local_stack_down(exc) or exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        finally:
            if on_main:
                signal.signal(signal.SIGTERM, previous)


_LOCAL_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost)(?::(\d+))?")


def local_stack_down(exc: BaseException) -> str | None:
    """A one-line answer when the error is a refused connection to the local stack, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (EndpointConnectionError, ConnectionClosedError)) or "Could not connect to the endpoint URL" in str(
            seen
        ):
            found = _LOCAL_URL.search(str(seen))
            if found:
                port = found.group(1) or "80"
                what = {local_value("dynamodb_port"): "DynamoDB (dynalite)", local_value("s3_port"): "S3 (s3rver)"}.get(
                    port, "server"
                )
                return (
                    f"cannot connect to the local {what} on 127.0.0.1:{port}: "
                    "is `make run` running? (start it in another terminal)"
                )
        seen = seen.__cause__ or seen.__context__
    return None


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a command like Ctrl-C does: through KeyboardInterrupt, so leases are released."""
    raise KeyboardInterrupt


@click.group(cls=Group)
@click.version_option(package_name="clickstream", prog_name="clickstream")
def main() -> None:
    """Self-hosted clickstream analytics on AWS serverless."""


@main.group(cls=Group)
def apps() -> None:
    """Apps and their write keys."""


@apps.command("create")
@click.argument("name")
@click.option(
    "--origin", "origins", multiple=True, help="A browser origin allowed to send, e.g. https://shop.example (repeatable)."
)
@click.option(
    "--any-origin", is_flag=True, help="Allow every browser origin (no allow-list). One of --origin/--any-origin is required."
)
@click.option("--app-id", default=None, help="Choose the app id (default: derived from NAME plus a random suffix).")
@click.option("--ip-mode", type=click.Choice(["anonymize", "drop", "keep"]), default="anonymize", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print {app_id, write_key, ...} as JSON.")
@stage_option
def apps_create(
    name: str, origins: tuple[str, ...], any_origin: bool, app_id: str | None, ip_mode: str, as_json: bool, stage: str | None
) -> None:
    """Create an app and print its id, the origins it allows and a new write key (shown only once).

    Requests without an Origin header (servers, SDKs) are accepted either way; the origins
    decide which web pages may send with the key.
    """
    if origins and any_origin:
        raise click.UsageError("give --origin (the sites allowed to send) or --any-origin, not both")
    if not origins and not any_origin:
        raise click.UsageError(
            "which web pages may send events with this app's key? --origin https://your.site (repeatable), "
            "or --any-origin to allow every origin"
        )
    app, key = _store(settings_for(stage)).create_app(name, origins, app_id=app_id, ip_mode=ip_mode)
    if as_json:
        click.echo(
            json.dumps(
                {"app_id": app.app_id, "write_key": key, "name": app.name, "origins": list(app.origins), "ip_mode": app.ip_mode}
            )
        )
        return
    note = f"   (derived from the name, not `{name}`: choose the id with --app-id)" if app_id is None else ""
    allowed = ", ".join(app.origins) if app.origins else "any (--any-origin)"
    click.echo(
        f"app_id:    {app.app_id}{note}\nwrite_key: {key}\norigins:   {allowed}\n"
        "(the key is stored hashed; this is the only time it is shown)"
    )


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


@apps.group("read-key", cls=Group)
def read_key() -> None:
    """Read keys: Bearer tokens for GET /v1/live and dashboard share links (never the write key)."""


def _read_keys(stage: str | None) -> Any:
    from chalicelib.store.readkeys import ReadKeyStore

    settings = settings_for(stage)
    return ReadKeyStore(clients.dynamodb(settings), settings.table, cache_seconds=0)


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ms else "never"


@read_key.command("create")
@click.argument("app_id")
@click.option("--expires-in", "expires_in", default=None, help="Lifetime, e.g. 30m, 12h, 7d (default: until revoked).")
@click.option("--label", default="", help="What the key is for (shown by list).")
@click.option("--json", "as_json", is_flag=True, help="Print {read_key, app_id, prefix, expires_at} as JSON.")
@stage_option
def read_key_create(app_id: str, expires_in: str | None, label: str, as_json: bool, stage: str | None) -> None:
    """Create a read key for APP_ID (scope: live); shown once, stored hashed."""
    from chalicelib.errors import TerminalError

    if _store(settings_for(stage)).get_app(app_id) is None:
        raise TerminalError(f"no app {app_id!r}; no key was created")
    seconds = None
    if expires_in:
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        try:
            seconds = int(expires_in[:-1]) * units[expires_in[-1]]
        except (ValueError, KeyError):
            raise TerminalError(f"--expires-in {expires_in!r} must look like 30m, 12h or 7d") from None
    key, clear = _read_keys(stage).create(app_id, expires_in_s=seconds, label=label)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "read_key": clear,
                    "app_id": key.app_id,
                    "prefix": key.prefix,
                    "scopes": list(key.scopes),
                    "expires_at": key.expires_at,
                }
            )
        )
    else:
        click.echo(
            f"read_key: {clear}\napp_id:   {key.app_id}\nexpires:  {_when(key.expires_at)}\n"
            "(stored hashed; this is the only time it is shown. Send it as Authorization: Bearer <key>;\n"
            f" a share link is /dashboard/live?app_id={key.app_id}#key=<key>)"
        )


@read_key.command("list")
@click.argument("app_id", required=False)
@click.option("--json", "as_json", is_flag=True)
@stage_option
def read_key_list(app_id: str | None, as_json: bool, stage: str | None) -> None:
    """List read keys (by prefix), with scopes, expiry and revocation."""
    rows = _read_keys(stage).list(app_id)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "app_id": k.app_id,
                        "prefix": k.prefix,
                        "scopes": list(k.scopes),
                        "created_at": k.created_at,
                        "expires_at": k.expires_at,
                        "revoked_at": k.revoked_at,
                        "label": k.label,
                    }
                    for k in rows
                ]
            )
        )
        return
    if not rows:
        click.echo("no read keys: clickstream apps read-key create APP_ID --expires-in 7d")
    for k in rows:
        state = f"revoked {_when(k.revoked_at)}" if k.revoked_at else f"expires {_when(k.expires_at)}"
        click.echo(f"{k.prefix}…  {k.app_id:<28} {','.join(k.scopes):<6} {state}  {k.label}")


@read_key.command("revoke")
@click.argument("key")
@stage_option
def read_key_revoke(key: str, stage: str | None) -> None:
    """Revoke a read key (the key, its SHA-256 or its listed prefix); refused within the key cache time (60 s)."""
    revoked = _read_keys(stage).revoke(key)
    click.echo(f"revoked read key {revoked.prefix}… of {revoked.app_id}")


@main.command("dev")
def dev() -> None:
    """Run the local stack, API, dashboard, demo and export scheduler (what `make run` calls).

    \b
    Ports and the data dir come from the environment:
      CLICKSTREAM_PORT           8000   API, demo site, dashboard
      CLICKSTREAM_DYNAMODB_PORT  8001   local DynamoDB (dynalite)
      CLICKSTREAM_S3_PORT        8002   local S3 (s3rver)
      CLICKSTREAM_DATA_DIR       .data  where both keep their data, and the demo key
    e.g. CLICKSTREAM_PORT=8100 CLICKSTREAM_DYNAMODB_PORT=8101 CLICKSTREAM_S3_PORT=8102 make run
    """
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
