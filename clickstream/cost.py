"""`clickstream cost`: the monthly AWS bill of a deployment, by service (docs/cost.md).

Inputs are data, not code: a dated price table and the measured figures (write units,
Parquet bytes and Lambda milliseconds per event or request) in ``prices.json``; the
function sizes and the export schedule of a stage in ``.chalice/config.json``. The
arithmetic is a pure function of those (``estimate``), so tests can check it by hand.

Two figures answer the two questions people ask:

* the idle floor: what the stack costs with no traffic at all (export runs every
  few minutes, alarms, metrics, the dashboard's minimum-billed queries);
* the variable cost per million events: (total - floor) / millions of events.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import click

PRICES = Path(__file__).with_name("prices.json")
CHALICE_CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60
GIB = 2.0**30
TIB = 2.0**40
DYNAMODB_READ_UNIT_BYTES = 4096
S3_MIN_TRANSITION_BYTES = 128 * 1024  # S3 lifecycle skips smaller objects by default
SERVICES = ("API Gateway", "Lambda", "DynamoDB", "S3", "Athena", "CloudWatch", "WAF", "QuickSight")


@dataclass(frozen=True)
class Profile:
    """What the stage's Chalice config says about sizes and schedules."""

    stage: str = "prod"
    api_memory_mb: int = 512
    export_memory_mb: int = 3008
    export_ephemeral_mb: int = 4096  # deploy/resources.yaml, ExportEvents' EphemeralStorage (the rollup rebuild's spill)
    export_every_minutes: int = 5
    event_ttl_days: int = 7
    write_shards: int = 16


@dataclass(frozen=True)
class Inputs:
    events_per_month: float
    events_per_request: float = 10
    quicksight_authors: int = 0
    quicksight_readers: int = 0
    waf: bool = False
    profile: Profile = field(default_factory=Profile)


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float

    @property
    def cost(self) -> float:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]

    def by_service(self) -> dict[str, float]:
        out = {s: 0.0 for s in SERVICES}
        for line in self.lines:
            out[line.service] += line.cost
        return out

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)


def load_table(path: Path = PRICES) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def stage_profile(stage: str | None, config_path: Path = CHALICE_CONFIG) -> Profile:
    """Sizes and schedule of ``stage`` (default prod) from the Chalice config, if it is there."""
    name = stage or "prod"
    if not config_path.exists():
        return Profile(stage=name)
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if name not in config.get("stages", {}):
        raise click.BadParameter(f"no stage {name!r} in {config_path}", param_hint="--stage")
    stage_config = config["stages"][name]
    env = {**config.get("environment_variables", {}), **stage_config.get("environment_variables", {})}

    def memory(function: str, default: int) -> int:
        for level in (stage_config, config):
            size = level.get("lambda_functions", {}).get(function, {}).get("lambda_memory_size")
            if size:
                return int(size)
        return default

    base = Profile()
    return Profile(
        stage=name,
        api_memory_mb=memory("api_handler", base.api_memory_mb),
        export_memory_mb=memory("export_events", base.export_memory_mb),
        export_every_minutes=int(env.get("CLICKSTREAM_EXPORT_SCHEDULE_MINUTES", base.export_every_minutes)),
        event_ttl_days=int(env.get("CLICKSTREAM_EVENT_TTL_DAYS", base.event_ttl_days)),
        write_shards=int(env.get("CLICKSTREAM_WRITE_SHARDS", base.write_shards)),
    )


def estimate(inputs: Inputs, table: Mapping[str, Any]) -> Estimate:
    """Every billed quantity of a month, priced. Pure: same inputs, same lines."""
    p, m, a = table["prices"], table["measured"], table["assumptions"]
    prof = inputs.profile
    events = float(inputs.events_per_month)
    requests = events / inputs.events_per_request
    runs = MINUTES_PER_MONTH / prof.export_every_minutes
    runs_with_data = min(runs, events)  # a run with nothing new writes no file
    apps = a["active_apps"]
    queries = a["dashboard_refreshes_per_month"] * a["dashboard_queries_per_refresh"]
    lines: list[Line] = []

    def add(service: str, item: str, quantity: float, unit: str, unit_price: float) -> None:
        lines.append(Line(service, item, quantity, unit, unit_price))

    # API Gateway bills requests, not events: batching K events per request divides it by K.
    add("API Gateway", "REST API requests", requests / 1e6, "million requests", p["api_gateway_rest_per_million_requests"])

    api_gb = prof.api_memory_mb / 1024
    export_gb = prof.export_memory_mb / 1024
    add("Lambda", "API invocations", requests / 1e6, "million requests", p["lambda_per_million_requests"])
    add(
        "Lambda",
        f"API compute ({m['api_lambda_ms_per_request']} ms x {prof.api_memory_mb} MB)",
        requests * m["api_lambda_ms_per_request"] / 1000 * api_gb,
        "GB-s",
        p["lambda_x86_per_gb_second"],
    )
    add(
        "Lambda",
        f"export invocations (every {prof.export_every_minutes} min)",
        runs / 1e6,
        "million requests",
        p["lambda_per_million_requests"],
    )
    export_seconds = (runs * m["export_lambda_ms_per_idle_run"] + events / 1000 * m["export_lambda_ms_per_1000_events"]) / 1000
    add(
        "Lambda",
        f"export compute ({prof.export_memory_mb} MB)",
        export_seconds * export_gb,
        "GB-s",
        p["lambda_x86_per_gb_second"],
    )
    # The modeled lake (docs/lake.md): the export's housekeeping builds each closed day's rollups,
    # and builds a day again when late events, an erasure or a retention run change it or the day
    # after it (rollup_builds_per_day). CPU per million events: bench.bench_rollups.
    builds = a["rollup_builds_per_day"]
    rollup_seconds = events / 1e6 * builds * m["rollup_cpu_s_per_million_events"]
    rollup_gb_s = rollup_seconds * export_gb
    add("Lambda", f"rollup compute ({prof.export_memory_mb} MB)", rollup_gb_s, "GB-s", p["lambda_x86_per_gb_second"])
    # The month grain (decision 0017 step 2, chalicelib/export/months.py): every day built marks
    # its month, which is rebuilt from the previous month's carry and all its days so far, so a
    # month's passes read on average (days + 1) / 2 days of events each. CPU per million events
    # read: bench.bench_month_build.
    month_days_read = (DAYS_PER_MONTH + 1) / 2
    month_seconds = events / 1e6 * builds * month_days_read * m["month_cpu_s_per_million_events_read"]
    add(
        "Lambda",
        f"month rollup compute ({prof.export_memory_mb} MB)",
        month_seconds * export_gb,
        "GB-s",
        p["lambda_x86_per_gb_second"],
    )
    rollup_seconds += month_seconds
    # Ephemeral storage above the free 512 MB is billed for every second the function runs.
    extra_gb = max(0, prof.export_ephemeral_mb - 512) / 1024
    add(
        "Lambda",
        f"export ephemeral storage ({prof.export_ephemeral_mb} MB)",
        (export_seconds + rollup_seconds) * extra_gb,
        "GB-s",
        p["lambda_ephemeral_per_gb_second"],
    )

    factor = a["export_read_unit_factor"]  # 1.0 strongly consistent, 0.5 eventually consistent
    add("DynamoDB", "event writes", events * m["write_units_per_event"] / 1e6, "million WRU", p["dynamodb_per_million_wru"])
    add(
        "DynamoDB",
        "export checkpoint and lease writes",
        runs * a["export_state_writes_per_run"] / 1e6,
        "million WRU",
        p["dynamodb_per_million_wru"],
    )
    add(
        "DynamoDB",
        "API app and key reads",
        requests * a["api_read_units_per_request"] / 1e6,
        "million RRU",
        p["dynamodb_per_million_rru"],
    )
    add(
        "DynamoDB",
        "export Query of new events",
        events * m["dynamodb_item_bytes"] / DYNAMODB_READ_UNIT_BYTES * factor / 1e6,
        "million RRU",
        p["dynamodb_per_million_rru"],
    )
    per_run_reads = (a["export_datasets"] * prof.write_shards + a["export_state_reads_per_run"]) * factor
    add(
        "DynamoDB",
        f"export Query per (dataset, shard) and state reads ({per_run_reads:g}/run)",
        runs * per_run_reads / 1e6,
        "million RRU",
        p["dynamodb_per_million_rru"],
    )
    table_gib = events * prof.event_ttl_days / DAYS_PER_MONTH * m["dynamodb_item_bytes"] / GIB
    add("DynamoDB", f"storage ({prof.event_ttl_days}-day TTL window)", table_gib, "GiB-month", p["dynamodb_storage_per_gb_month"])
    add("DynamoDB", "point-in-time recovery", table_gib, "GiB-month", p["dynamodb_pitr_per_gb_month"])
    add(
        "DynamoDB",
        "KMS requests (aws/dynamodb key)",
        a["kms_requests_per_month"] / 1e4,
        "10k requests",
        p["kms_per_10k_requests"],
    )

    data_files = runs_with_data * apps  # one Parquet file per app per run, before compaction
    add(
        "S3",
        "export PUTs (Parquet and side files)",
        runs_with_data * apps * a["export_files_per_run_with_data"] / 1000,
        "1,000 requests",
        p["s3_put_per_1000"],
    )
    add(
        "S3", "export GETs", runs_with_data * a["export_s3_gets_per_run_with_data"] / 1000, "1,000 requests", p["s3_get_per_1000"]
    )
    files_in_window = data_files / DAYS_PER_MONTH * a["dashboard_window_days"]
    files_per_query = min(a["dashboard_files_per_query"], files_in_window)
    add(
        "S3",
        "dashboard reads by Athena",
        queries * files_per_query * a["dashboard_s3_requests_per_file"] / 1000,
        "1,000 requests",
        p["s3_get_per_1000"],
    )
    add("S3", "Athena result PUTs", queries * a["athena_result_puts_per_query"] / 1000, "1,000 requests", p["s3_put_per_1000"])
    rollup_days = DAYS_PER_MONTH * apps * builds if events else 0.0  # S3 prices LIST as a PUT
    add(
        "S3",
        "rollup LISTs and PUTs",
        rollup_days * (a["rollup_lists_per_day"] + a["rollup_puts_per_day"]) / 1000,
        "1,000 requests",
        p["s3_put_per_1000"],
    )
    add("S3", "rollup GETs", rollup_days * a["rollup_gets_per_day"] / 1000, "1,000 requests", p["s3_get_per_1000"])
    add(
        "S3",
        "month rollup LISTs and PUTs",
        rollup_days * (a["month_lists_per_build"] + a["month_puts_per_build"]) / 1000,
        "1,000 requests",
        p["s3_put_per_1000"],
    )
    add(
        "S3",
        "month rollup GETs",
        rollup_days * (month_days_read * a["month_gets_per_day_read"] + a["month_carry_gets_per_build"]) / 1000,
        "1,000 requests",
        p["s3_get_per_1000"],
    )
    month_gib = events * m["parquet_bytes_per_event"] / GIB
    history = a["lake_history_months"]
    average_file = events * m["parquet_bytes_per_event"] / data_files if data_files else 0.0
    transitions = average_file >= S3_MIN_TRANSITION_BYTES
    standard_months = min(history, a["archive_after_days"] / DAYS_PER_MONTH) if transitions else history
    add(
        "S3",
        f"lake in Standard ({standard_months:.1f} of {history} months of history)",
        month_gib * standard_months,
        "GiB-month",
        p["s3_standard_per_gb_month"],
    )
    add(
        "S3",
        "lake in Glacier IR (files >= 128 KiB, after the archive age)",
        month_gib * (history - standard_months),
        "GiB-month",
        p["s3_glacier_ir_per_gb_month"],
    )
    add(
        "S3",
        "lifecycle transitions to Glacier IR",
        data_files / 1000 if transitions else 0.0,
        "1,000 requests",
        p["s3_transition_glacier_ir_per_1000"],
    )

    # The shipped dashboard refreshes hourly; each query scans the window's rows, only
    # the columns it needs, and is billed at least 10 MB.
    window_bytes = events / DAYS_PER_MONTH * a["dashboard_window_days"] * m["parquet_bytes_per_event"]
    per_query = max(a["athena_min_bytes_per_query"], window_bytes * a["dashboard_column_fraction"])
    add(
        "Athena",
        f"dashboard scans ({queries:g} queries, {a['dashboard_window_days']}-day window)",
        queries * per_query / TIB,
        "TiB",
        p["athena_per_tb_scanned"],
    )

    log_gib = (requests * m["log_bytes_per_api_request"] + runs * m["log_bytes_per_export_run"]) / GIB
    add("CloudWatch", "log ingestion", log_gib, "GiB", p["cloudwatch_logs_ingest_per_gb"])
    stored_gib = log_gib * a["log_retention_days"] / DAYS_PER_MONTH
    add(
        "CloudWatch",
        f"log storage ({a['log_retention_days']}-day retention)",
        stored_gib,
        "GiB-month",
        p["cloudwatch_logs_storage_per_gb_month"],
    )
    add("CloudWatch", "custom metric ExportLagSeconds", a["custom_metrics"], "metrics", p["cloudwatch_custom_metric_per_month"])
    add(
        "CloudWatch",
        "alarms (export lag, API 5xx, export errors, worker failures)",
        a["alarm_metrics"],
        "alarm metrics",
        p["cloudwatch_alarm_metric_per_month"],
    )
    # CloudWatch can publish to an encrypted topic only with a customer managed key (deploy/resources.yaml).
    add("CloudWatch", "KMS key of the alarm topic", 1, "keys", p["kms_customer_key_per_month"])
    add(
        "CloudWatch",
        "PutMetricData",
        runs * a["put_metric_data_per_run"] / 1000,
        "1,000 requests",
        p["cloudwatch_put_metric_data_per_1000"],
    )

    if inputs.waf:
        add("WAF", "web ACL", 1, "web ACLs", p["waf_web_acl_per_month"])
        add("WAF", "rule (max body size)", 1, "rules", p["waf_rule_per_month"])
        add("WAF", "inspected requests", requests / 1e6, "million requests", p["waf_per_million_requests"])

    if inputs.quicksight_authors:
        add("QuickSight", "authors", inputs.quicksight_authors, "users", p["quicksight_author_per_month"])
    if inputs.quicksight_readers:
        add("QuickSight", "readers", inputs.quicksight_readers, "users", p["quicksight_reader_per_month"])
    return Estimate(tuple(lines))


@dataclass(frozen=True)
class Summary:
    inputs: Inputs
    month: Estimate
    idle: Estimate  # same stack, no events, no QuickSight seats
    at_goal_batch: Estimate  # same events, 10 per request, no seats: the goal is stated there

    @property
    def seats(self) -> float:
        return self.month.by_service()["QuickSight"]

    @property
    def idle_floor(self) -> float:
        return self.idle.total

    @property
    def per_million_all_in(self) -> float:
        millions = self.inputs.events_per_month / 1e6
        return self.month.total / millions if millions else 0.0

    @property
    def per_million_variable(self) -> float:
        millions = self.inputs.events_per_month / 1e6
        return (self.month.total - self.seats - self.idle_floor) / millions if millions else 0.0

    @property
    def per_million_variable_at_goal_batch(self) -> float:
        millions = self.inputs.events_per_month / 1e6
        return (self.at_goal_batch.total - self.idle_floor) / millions if millions else 0.0


def summarize(inputs: Inputs, table: Mapping[str, Any]) -> Summary:
    no_seats = replace(inputs, quicksight_authors=0, quicksight_readers=0)
    return Summary(
        inputs=inputs,
        month=estimate(inputs, table),
        idle=estimate(replace(no_seats, events_per_month=0), table),
        at_goal_batch=estimate(replace(no_seats, events_per_request=10), table),
    )


def reference_comparison(inputs: Inputs, table: Mapping[str, Any]) -> dict[str, float]:
    ref = table["reference"]
    ours = estimate(replace(inputs, events_per_month=ref["events_per_month"]), table).total
    return {
        "events_per_month": ref["events_per_month"],
        "reference_monthly": ref["monthly_cost"],
        "reference_per_million": ref["monthly_cost"] / (ref["events_per_month"] / 1e6),
        "this_design_monthly": ours,
    }


# ------------------------------------------------------------------ presentation
def _money(x: float) -> str:
    return f"${x:,.2f}"


def _check(ok: bool) -> str:
    return "meets the goal" if ok else "MISSES the goal"


def render(summary: Summary, table: Mapping[str, Any], region: str | None) -> str:
    i, goals, measured = summary.inputs, table["goals"], table["measured"]
    requests = i.events_per_month / i.events_per_request
    out = [
        f"Monthly AWS cost for {i.events_per_month:,.0f} events ({i.events_per_request:g} events/request = "
        f"{requests:,.0f} requests), stage {i.profile.stage}",
        f"Prices: {table['region']} list prices taken {table['taken']} (clickstream/prices.json); "
        f"measured figures: {measured['status'].upper()} {measured.get('measured_on') or ''}".rstrip(),
    ]
    if region and region != table["region"]:
        out.append(f"Note: the stage's region is {region}; prices there may differ from {table['region']}.")
    out.append("")
    month, idle = summary.month.by_service(), summary.idle.by_service()
    out.append(f"{'service':<12} {'monthly':>10} {'of which idle':>14}")
    for service in SERVICES:
        if month[service] or idle[service]:
            out.append(f"{service:<12} {_money(month[service]):>10} {_money(idle[service]):>14}")
    out.append(f"{'total':<12} {_money(summary.month.total):>10} {_money(summary.idle_floor):>14}")
    out.append("")
    floor_goal = goals["idle_floor_per_month"]
    out.append(
        f"Idle floor: {_money(summary.idle_floor)}/month without QuickSight seats "
        f"(goal <= {_money(floor_goal)}: {_check(summary.idle_floor <= floor_goal)})"
    )
    out.append(
        f"Per million events: {_money(summary.per_million_all_in)} all-in, "
        f"{_money(summary.per_million_variable)} variable (above the idle floor, without seats)"
    )
    goal = goals["variable_per_million_events_at_10_per_request"]
    out.append(
        f"Variable per million at 10 events/request: {_money(summary.per_million_variable_at_goal_batch)} "
        f"(goal <= {_money(goal)}: {_check(summary.per_million_variable_at_goal_batch <= goal)})"
    )
    ref = reference_comparison(i, table)
    out.append(
        f"Kinesis reference: ~{_money(ref['reference_monthly'])}/month for {ref['events_per_month']:,.0f} events "
        f"({_money(ref['reference_per_million'])} per million); this design at that volume: "
        f"{_money(ref['this_design_monthly'])}/month"
    )
    out.append("")
    out.append("Lines (quantity x unit price):")
    for line in summary.month.lines:
        if line.cost >= 0.005 or line.quantity:
            out.append(
                f"  {line.service:<11} {line.item:<62} {line.quantity:>14,.4f} {line.unit:<17} "
                f"x {line.unit_price:<12g} = {_money(line.cost)}"
            )
    out.append(
        f"Measured figures ({measured['status']}; measure with: {measured['measured_by']}): "
        f"{measured['write_units_per_event']} WRU/event, {measured['parquet_bytes_per_event']} Parquet bytes/event, "
        f"{measured['api_lambda_ms_per_request']} ms/API request"
    )
    return "\n".join(out)


def as_json(summary: Summary, table: Mapping[str, Any], region: str | None) -> dict[str, Any]:
    return {
        "inputs": asdict(summary.inputs),
        "region": region,
        "prices": {"region": table["region"], "taken": table["taken"]},
        "measured": table["measured"],
        "services": summary.month.by_service(),
        "total": summary.month.total,
        "idle_floor": summary.idle_floor,
        "per_million_all_in": summary.per_million_all_in,
        "per_million_variable": summary.per_million_variable,
        "per_million_variable_at_10_per_request": summary.per_million_variable_at_goal_batch,
        "goals": table["goals"],
        "reference": reference_comparison(summary.inputs, table),
        "lines": [{**asdict(line), "cost": line.cost} for line in summary.month.lines],
    }


def _region() -> str | None:
    import boto3

    return boto3.session.Session().region_name


@click.command("cost")
@click.option("--events-per-month", type=click.FloatRange(min=0), required=True, help="Events collected per month.")
@click.option(
    "--events-per-request",
    type=click.FloatRange(min=1),
    default=10,
    show_default=True,
    help="Events the tracker batches into one request.",
)
@click.option("--stage", default=None, help="Read sizes and schedule of this stage from .chalice/config.json (default prod).")
@click.option("--quicksight-authors", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--quicksight-readers", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--waf", is_flag=True, help="Include the optional WAF request-size limit (EnableWaf=true).")
@click.option("--json", "as_json_flag", is_flag=True, help="Print the estimate as JSON.")
def cost(
    events_per_month: float,
    events_per_request: float,
    stage: str | None,
    quicksight_authors: int,
    quicksight_readers: int,
    waf: bool,
    as_json_flag: bool,
) -> None:
    """Estimate the monthly AWS cost by service (prices: clickstream/prices.json)."""
    table = load_table()
    inputs = Inputs(events_per_month, events_per_request, quicksight_authors, quicksight_readers, waf, stage_profile(stage))
    summary = summarize(inputs, table)
    region = _region() if stage else None
    if as_json_flag:
        click.echo(json.dumps(as_json(summary, table, region), indent=2))
    else:
        click.echo(render(summary, table, region))
