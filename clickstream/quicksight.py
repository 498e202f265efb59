"""`clickstream quicksight deploy`: the dashboard spec onto Amazon QuickSight, idempotently.

Plan, then reconcile: clickstream/dashboard/quicksight_requests.py builds every request from
quicksight/dashboard.yaml without I/O; `Deployer` describes each resource, compares what
exists with what the plan wants, and creates or updates only on a difference. Permissions
are only ever added for the principal (never revoked), so access granted by hand survives.

Order: data source -> datasets (they need its ARN) -> analysis -> dashboard (they need the
datasets' ARNs). QuickSight builds analyses and dashboard versions asynchronously, so the
deployer waits for each to succeed before going on (a dashboard version is published only
once it exists).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import click
from botocore.exceptions import ClientError, ParamValidationError

from chalicelib.errors import TerminalError, TransientError
from clickstream.dashboard import quicksight_requests as qs
from clickstream.dashboard.spec import Spec, load

TRANSIENT = {"ThrottlingException", "InternalFailureException", "ConcurrentUpdatingException", "LimitExceededException"}
PUBLISH_OPTIONS = {
    "AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"},
    "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"},
    "SheetControlsOption": {"VisibilityState": "EXPANDED"},
}


def differs(want: Any, have: Any) -> bool:
    """True if `have` lacks or contradicts anything in `want`. Keys only `have` has (QuickSight
    fills in defaults and ids when it describes a resource) do not count as a difference."""
    if isinstance(want, dict):
        return not isinstance(have, dict) or any(differs(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return not isinstance(have, list) or len(want) != len(have) or any(differs(w, h) for w, h in zip(want, have))
    return want != have


@dataclass
class Deployer:
    client: Any  # a boto3 QuickSight client (parameter validation on: botocore's default)
    account_id: str
    principal: str
    region: str
    dry_run: bool = False
    sleep: Callable[[float], None] = time.sleep
    poll_s: float = 2.0
    timeout_s: float = 300.0
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, id, what happened)

    # ------------------------------------------------------------ plumbing
    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(AwsAccountId=self.account_id, **params)
        except ParamValidationError as exc:  # a request the spec produced does not fit the API
            raise TerminalError(f"QuickSight {operation}: invalid request, nothing sent: {exc}") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            kind = TransientError if code in TRANSIENT else TerminalError
            raise kind(f"QuickSight {operation} failed ({code}): {exc.response.get('Error', {}).get('Message', exc)}") from exc

    def _describe(self, operation: str, **params: Any) -> dict[str, Any] | None:
        try:
            return self._call(operation, **params)
        except TerminalError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise

    def _change(self, kind: str, rid: str, what: str, operation: str | None = None, **params: Any) -> dict[str, Any]:
        self.changes.append((kind, rid, ("would be " if self.dry_run else "") + what))
        if self.dry_run or operation is None:
            return {}
        return self._call(operation, **params)

    def _arn(self, kind: str, rid: str) -> str:
        return f"arn:aws:quicksight:{self.region}:{self.account_id}:{kind}/{rid}"

    def _wait(self, operation: str, key: str, **params: Any) -> None:
        """Poll until QuickSight's asynchronous build ends; raise with its errors if it failed."""
        if self.dry_run:
            return
        deadline = time.monotonic() + self.timeout_s
        while True:
            found = self._call(operation, **params)[key]
            status = found.get("Status") or found.get("Version", {}).get("Status", "")
            if status.endswith("_SUCCESSFUL"):
                return
            if status.endswith("_FAILED"):
                errors = found.get("Errors") or found.get("Version", {}).get("Errors") or []
                detail = "; ".join(f"{e.get('Type')}: {e.get('Message')}" for e in errors) or "no details"
                raise TerminalError(f"QuickSight {operation} {params}: {status} ({detail})")
            if time.monotonic() > deadline:
                raise TransientError(f"QuickSight {operation} {params}: still {status} after {self.timeout_s}s")
            self.sleep(self.poll_s)

    def _grant(self, kind: str, rid: str, describe: str, update: str, id_key: str) -> None:
        want = set(qs.OWNER_ACTIONS[kind])
        current = self._call(describe, **{id_key: rid}).get("Permissions", [])
        have = {a for p in current if p["Principal"] == self.principal for a in p["Actions"]}
        if not want <= have:
            self._change(kind, rid, "granted", update, **{id_key: rid, "GrantPermissions": qs.permissions(self.principal, kind)})

    def _tags(self, names: qs.Names) -> list[dict[str, str]]:
        return [{"Key": "clickstream:stage", "Value": names.stage}]

    # ------------------------------------------------------------ resources
    def data_source(self, names: qs.Names, workgroup: str) -> str:
        want = qs.data_source_request(names, workgroup)
        rid = want["DataSourceId"]
        found = self._describe("describe_data_source", DataSourceId=rid)
        if found is None:
            out = self._change(
                "data_source",
                rid,
                "created",
                "create_data_source",
                **want,
                Permissions=qs.permissions(self.principal, "data_source"),
                Tags=self._tags(names),
            )
            self._wait("describe_data_source", "DataSource", DataSourceId=rid)
            return out.get("Arn") or self._arn("datasource", rid)
        if differs({k: want[k] for k in ("Name", "Type", "DataSourceParameters")}, found["DataSource"]):
            self._change(
                "data_source",
                rid,
                "updated",
                "update_data_source",
                DataSourceId=rid,
                Name=want["Name"],
                DataSourceParameters=want["DataSourceParameters"],
            )
            self._wait("describe_data_source", "DataSource", DataSourceId=rid)
        self._grant("data_source", rid, "describe_data_source_permissions", "update_data_source_permissions", "DataSourceId")
        return found["DataSource"]["Arn"]

    def data_set(self, spec: Spec, name: str, names: qs.Names, data_source_arn: str, database: str) -> str:
        want = qs.data_set_request(spec, spec.datasets[name], names, data_source_arn, database)
        rid = want["DataSetId"]
        found = self._describe("describe_data_set", DataSetId=rid)
        if found is None:
            out = self._change(
                "data_set",
                rid,
                "created",
                "create_data_set",
                **want,
                Permissions=qs.permissions(self.principal, "data_set"),
                Tags=self._tags(names),
            )
            return out.get("Arn") or self._arn("dataset", rid)
        if differs(want, found["DataSet"]):
            self._change("data_set", rid, "updated", "update_data_set", **want)
        self._grant("data_set", rid, "describe_data_set_permissions", "update_data_set_permissions", "DataSetId")
        return found["DataSet"]["Arn"]

    def analysis(self, names: qs.Names, name: str, definition: dict[str, Any]) -> None:
        rid = names.analysis
        found = self._describe("describe_analysis_definition", AnalysisId=rid)
        if found is None:
            self._change(
                "analysis",
                rid,
                "created",
                "create_analysis",
                AnalysisId=rid,
                Name=name,
                Definition=definition,
                Permissions=qs.permissions(self.principal, "analysis"),
                Tags=self._tags(names),
            )
            self._wait("describe_analysis", "Analysis", AnalysisId=rid)
            return
        if differs({"Name": name, "Definition": definition}, found):
            self._change("analysis", rid, "updated", "update_analysis", AnalysisId=rid, Name=name, Definition=definition)
            self._wait("describe_analysis", "Analysis", AnalysisId=rid)
        self._grant("analysis", rid, "describe_analysis_permissions", "update_analysis_permissions", "AnalysisId")

    def dashboard(self, names: qs.Names, name: str, definition: dict[str, Any]) -> None:
        rid = names.dashboard
        found = self._describe("describe_dashboard_definition", DashboardId=rid)
        body = {"DashboardId": rid, "Name": name, "Definition": definition, "DashboardPublishOptions": PUBLISH_OPTIONS}
        if found is None:  # version 1 is published on creation
            out = self._change(
                "dashboard",
                rid,
                "created",
                "create_dashboard",
                **body,
                VersionDescription="clickstream quicksight deploy",
                Permissions=qs.permissions(self.principal, "dashboard"),
                Tags=self._tags(names),
            )
            self._wait("describe_dashboard", "Dashboard", DashboardId=rid, VersionNumber=_version(out, 1))
            return
        # Described without a version number, a dashboard is its published version. So a run that
        # dies between update and publish leaves the old version published and differing from
        # the spec, and the next run updates and publishes again:
        #   run 1: update -> v7 built -> (crash)            published: v6
        #   run 2: describe v6 != spec -> update -> v8 -> publish v8
        if differs({"Name": name, "Definition": definition, "DashboardPublishOptions": PUBLISH_OPTIONS}, found):
            out = self._change(
                "dashboard", rid, "updated", "update_dashboard", **body, VersionDescription="clickstream quicksight deploy"
            )
            if not self.dry_run:
                version = _version(out, 0)
                self._wait("describe_dashboard", "Dashboard", DashboardId=rid, VersionNumber=version)
                self._change(
                    "dashboard",
                    rid,
                    f"published version {version}",
                    "update_dashboard_published_version",
                    DashboardId=rid,
                    VersionNumber=version,
                )
        self._grant("dashboard", rid, "describe_dashboard_permissions", "update_dashboard_permissions", "DashboardId")

    # ------------------------------------------------------------ all of it
    def deploy(
        self, spec: Spec, stage: str, workgroup: str, database: str, default_app: str | None = None
    ) -> list[tuple[str, str, str]]:
        names = qs.Names(spec.id, stage)
        source_arn = self.data_source(names, workgroup)
        arns = {d.name: self.data_set(spec, d.name, names, source_arn, database) for d in spec.used_datasets()}
        definition = qs.definition(spec, arns, default_app)
        title = f"{spec.title} ({stage})"
        self.analysis(names, title, definition)
        self.dashboard(names, title, definition)
        return self.changes


def _version(response: dict[str, Any], default: int) -> int:
    """The version number at the end of a VersionArn (…/dashboard/<id>/version/<n>)."""
    arn = response.get("VersionArn", "")
    tail = arn.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else default


# ---------------------------------------------------------------- command line


@click.group("quicksight")
def quicksight() -> None:
    """Deploy the dashboard spec (quicksight/dashboard.yaml) to Amazon QuickSight."""


@quicksight.command("deploy")
@click.option("--stage", required=True, help="The deployed stage whose Glue database and Athena workgroup the datasets read.")
@click.option(
    "--principal", required=True, help="ARN of the QuickSight user or group that gets owner access to everything created."
)
@click.option("--region", default=None, help="QuickSight region (default: the stage's region, AWS_REGION).")
@click.option("--workgroup", default=None, help="Athena workgroup (default: clickstream-<stage>).")
@click.option("--default-app", default=None, help="The app the dashboard opens on (default: the spec's default).")
@click.option("--dry-run", is_flag=True, help="Describe and compare only; print what would change.")
@click.pass_obj
def deploy(
    obj: dict[str, Any] | None,
    stage: str,
    principal: str,
    region: str | None,
    workgroup: str | None,
    default_app: str | None,
    dry_run: bool,
) -> None:
    """Create or update the Athena data source, one dataset per panel query, the analysis and the
    published dashboard, and grant PRINCIPAL access. Re-running it changes nothing."""
    from clickstream.target import settings_for

    settings = settings_for(stage)
    region = region or settings.region
    client, account = _aws(obj or {}, region)
    spec = load()
    deployer = Deployer(client, account, principal, region, dry_run=dry_run)
    changes = deployer.deploy(spec, stage, workgroup or f"clickstream-{stage}", settings.glue_database, default_app)
    for kind, rid, what in changes:
        click.echo(f"{kind:<12} {rid:<40} {what}")
    if not changes:
        click.echo("QuickSight is up to date: nothing changed")
    elif not dry_run:
        click.echo(f"dashboard: https://{region}.quicksight.aws.amazon.com/sn/dashboards/{qs.Names(spec.id, stage).dashboard}")


def _aws(injected: dict[str, Any], region: str) -> tuple[Any, str]:
    """The QuickSight client and account id: from the click context's obj (tests), else boto3's defaults."""
    if "quicksight" in injected:
        return injected["quicksight"], injected["account"]
    import boto3

    session = boto3.session.Session(region_name=region)
    return session.client("quicksight"), session.client("sts").get_caller_identity()["Account"]
