"""``python -m deploy package|deploy|destroy|layer`` (what deploy/Makefile.mk runs)."""

from __future__ import annotations

import json
import os
import sys

import click

from deploy.package import (
    APP_DIR,
    BUILD_DIR,
    DeployError,
    Package,
    chalice_package,
    layer_arn,
    layer_pin,
    lint,
    runtimes,
    summarize_zip,
)


def app_name() -> str:
    return str(json.loads((APP_DIR / ".chalice" / "config.json").read_text())["app_name"])


def stack_name(stage: str) -> str:
    return f"{app_name()}-{stage}"


def build(stage: str, region: str) -> Package:
    package = chalice_package(stage, BUILD_DIR / stage, region=region)
    findings = lint(package.template_path, regions=[region])
    if findings:
        raise DeployError("cfn-lint rejects the packaged template:\n  " + "\n  ".join(findings))
    click.echo(f"{package.template_path.relative_to(APP_DIR)}: cfn-lint clean")
    click.echo(summarize_zip(package.zip_path).describe())
    pin = layer_pin()
    found = runtimes(package.template())
    if set(found.values()) != {pin.runtime}:
        raise DeployError(f"the packaged functions have runtimes {found}, not {pin.runtime}")
    arn = pin.arns.get(region, "(none pinned: pass --pandas-layer-arn)")
    click.echo(
        f"runtime {pin.runtime} on {', '.join(sorted(found))} (built from Python {sys.version.split()[0]}); "
        f"layer for {region}: {arn} (awswrangler {pin.awswrangler}, pyarrow {pin.pyarrow})"
    )
    return package


def session(region: str | None):
    import boto3

    s = boto3.session.Session(region_name=region)
    if not s.region_name:
        raise DeployError("no AWS region: pass --region or set AWS_REGION")
    return s


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not Key=Value", param_hint="--param")
        out[key] = value
    return out


@click.group()
def cli() -> None:
    """Build and deploy the clickstream stack (docs/deploy.md)."""


@cli.command("package")
@click.option("--stage", required=True)
@click.option("--region", default=lambda: os.environ.get("AWS_REGION", "us-east-1"), show_default="AWS_REGION or us-east-1")
def package_cmd(stage: str, region: str) -> None:
    """Offline: chalice package --merge-template deploy/resources.yaml into build/STAGE/, then cfn-lint."""
    build(stage, region)


@cli.command("deploy")
@click.option("--stage", required=True)
@click.option("--region", default=None, help="Default: the AWS profile/environment region.")
@click.option("--artifact-bucket", default=None, help="Default: clickstream-artifacts-<account>-<region> (created if missing).")
@click.option(
    "--pandas-layer-arn",
    envvar="PANDAS_LAYER_ARN",
    default=None,
    help="Default: the entry for the region in deploy/pandas-layers.json.",
)
@click.option("--alarm-email", envvar="ALARM_EMAIL", default=None)
@click.option("--param", "params", multiple=True, help="Extra template parameter Key=Value (repeatable).")
@click.option("--no-execute", is_flag=True, help="Create the change set and show it, do not execute it.")
def deploy_cmd(
    stage: str,
    region: str | None,
    artifact_bucket: str | None,
    pandas_layer_arn: str | None,
    alarm_email: str | None,
    params: tuple[str, ...],
    no_execute: bool,
) -> None:
    """Package, upload and deploy the stack clickstream-STAGE through a change set."""
    from deploy.cloudformation import Stack

    s = session(region)
    package = build(stage, s.region_name)
    stack = Stack(s, stack_name(stage), echo=click.echo)
    parameters = parse_params(params)
    parameters["PandasLayerArn"] = pandas_layer_arn or layer_arn(s.region_name)
    stack.check_layer(parameters["PandasLayerArn"], layer_pin().runtime)
    if alarm_email is not None:
        parameters["AlarmEmail"] = alarm_email
    outputs = stack.deploy(
        package.template(),
        package.zip_path,
        artifact_bucket or stack.default_artifact_bucket(),
        parameters,
        tags={"project": app_name(), "stage": stage},
        execute=not no_execute,
    )
    for key, value in sorted(outputs.items()):
        click.echo(f"{key}: {value}")


@cli.command("destroy")
@click.option("--stage", required=True)
@click.option("--region", default=None)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def destroy_cmd(stage: str, region: str | None, yes: bool) -> None:
    """Delete the stack clickstream-STAGE; the table and the lake bucket are kept (Retain)."""
    from deploy.cloudformation import Stack

    stack = Stack(session(region), stack_name(stage), echo=click.echo)
    if stack.status() is None:
        click.echo(f"{stack.name}: no such stack")
        return
    kept = stack.kept_on_delete()
    click.echo(f"Deleting {stack.name} in {stack.region}. Kept (delete by hand if unwanted):")
    for logical, physical in kept:
        click.echo(f"  {logical}: {physical}")
    if not yes:
        click.confirm("Proceed?", abort=True)
    stack.delete()
    click.echo(f"{stack.name} deleted")


@cli.command("layer")
@click.option("--region", required=True)
def layer_cmd(region: str) -> None:
    """Print the pinned AWS SDK for pandas layer ARN for REGION."""
    click.echo(layer_arn(region))


def main() -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cli(standalone_mode=True)
    except (DeployError, BotoCoreError, ClientError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
