"""The cost model (issue 6): arithmetic checked against hand-computed figures, and the goals.

Hand computations use the shipped prices.json, so a price or measured-figure update
changes the expected numbers here on purpose: read the diff, then update both.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from clickstream.cost import (
    DAYS_PER_MONTH,
    GIB,
    TIB,
    Inputs,
    Profile,
    cost,
    estimate,
    load_table,
    stage_profile,
    summarize,
)

TABLE = load_table()
P, M, A = TABLE["prices"], TABLE["measured"], TABLE["assumptions"]
RUNS = 730 * 60 / 5  # export every 5 minutes, 730-hour month


def line(est, item_prefix: str) -> float:
    [match] = [ln for ln in est.lines if ln.item.startswith(item_prefix)]
    return match.cost


def test_price_table_is_dated_sourced_and_has_the_nov_2024_dynamodb_prices() -> None:
    assert TABLE["region"] == "us-east-1" and TABLE["taken"]
    assert set(TABLE["sources"]) >= {"api_gateway", "lambda", "dynamodb", "s3", "athena", "cloudwatch", "quicksight"}
    assert P["dynamodb_per_million_wru"] == 0.625 and P["dynamodb_per_million_rru"] == 0.125
    assert M["measured_by"] and M["status"] in ("estimate", "measured")


def test_api_gateway_bills_requests_not_events() -> None:
    ten = estimate(Inputs(3_000_000, 10), TABLE).by_service()["API Gateway"]
    one = estimate(Inputs(3_000_000, 1), TABLE).by_service()["API Gateway"]
    assert ten == pytest.approx(300_000 / 1e6 * 3.50)  # $1.05
    assert one == pytest.approx(10 * ten)


def test_lambda_lines_match_hand_computation() -> None:
    est = estimate(Inputs(3_000_000, 10), TABLE)
    # 300,000 requests x 40 ms x 0.5 GB = 6,000 GB-s
    assert line(est, "API compute") == pytest.approx(6_000 * P["lambda_x86_per_gb_second"])
    assert line(est, "API invocations") == pytest.approx(0.3 * 0.20)
    # 8,760 runs x 0.6 s + 3,000 x 0.2 s = 5,856 s at 3008 MB
    assert line(est, "export compute") == pytest.approx((RUNS * 0.6 + 3_000 * 0.2) * 3008 / 1024 * P["lambda_x86_per_gb_second"])


def test_rollup_lines_match_hand_computation_and_the_template_disk() -> None:
    est = estimate(Inputs(30_000_000, 10), TABLE)
    # 30 million events, each day built 1.5 times at the measured CPU per million events, at 3008 MB
    seconds = 30 * 1.5 * M["rollup_cpu_s_per_million_events"]
    assert line(est, "rollup compute") == pytest.approx(seconds * 3008 / 1024 * P["lambda_x86_per_gb_second"])
    days = DAYS_PER_MONTH * 1.5  # one app
    # a PUT per rollup table and day (chalicelib/export/rollups.WRITE_ORDER: 17 with the keyless totals)
    assert line(est, "rollup LISTs and PUTs") == pytest.approx(days * (4 + 17) / 1000 * 0.005)
    assert line(est, "rollup GETs") == pytest.approx(days * 3 / 1000 * 0.0004)
    # the month grain: each of those builds rebuilds its month from all its days so far, on
    # average (30.4 + 1) / 2 days of events read, at the measured CPU per million events read
    read = 30 * 1.5 * (DAYS_PER_MONTH + 1) / 2
    assert line(est, "month rollup compute") == pytest.approx(
        read * M["month_cpu_s_per_million_events_read"] * 3008 / 1024 * P["lambda_x86_per_gb_second"]
    )
    # 13 month files and 13 carry files a build (chalicelib/lake/month DIMENSIONS), 7 LISTs
    assert line(est, "month rollup LISTs and PUTs") == pytest.approx(days * (7 + 26) / 1000 * 0.005)
    assert line(est, "month rollup GETs") == pytest.approx(days * ((DAYS_PER_MONTH + 1) / 2 * 10 + 26) / 1000 * 0.0004)
    # the disk is billed for the month builds' seconds too
    all_seconds = seconds + read * M["month_cpu_s_per_million_events_read"]
    assert line(est, "export ephemeral storage") == pytest.approx(
        (RUNS * 0.6 + 30_000 * 0.2 + all_seconds)
        * (Profile().export_ephemeral_mb - 512)
        / 1024
        * P["lambda_ephemeral_per_gb_second"]
    )
    assert line(estimate(Inputs(0, 10), TABLE), "rollup compute") == 0
    assert line(estimate(Inputs(0, 10), TABLE), "month rollup compute") == 0
    assert line(estimate(Inputs(0, 10), TABLE), "month rollup GETs") == 0
    assert line(estimate(Inputs(0, 10), TABLE), "rollup GETs") == 0
    # the disk the cost model charges is the one deploy/resources.yaml gives the export function
    template = (Path(__file__).resolve().parents[2] / "deploy" / "resources.yaml").read_text()
    assert f"EphemeralStorage:\n        Size: {Profile().export_ephemeral_mb}\n" in template


def test_dynamodb_lines_match_hand_computation() -> None:
    est = estimate(Inputs(3_000_000, 10), TABLE)
    wru, item = M["write_units_per_event"], M["dynamodb_item_bytes"]  # measured: 1.0 WRU, 824 bytes (docs/decisions/0012)
    assert line(est, "event writes") == pytest.approx(3 * wru * 0.625)
    assert line(est, "export Query of new events") == pytest.approx(3e6 * item / 4096 / 1e6 * 0.125)
    table_gib = 3e6 * 7 / DAYS_PER_MONTH * item / GIB  # a 7-day TTL window of the measured items
    assert line(est, "storage") == pytest.approx(table_gib * 0.25)
    assert line(est, "point-in-time") == pytest.approx(table_gib * 0.20)


def test_athena_scans_are_proportional_to_the_window_with_a_10_mb_minimum() -> None:
    queries = 730 * 2
    small = estimate(Inputs(100_000, 10), TABLE)
    assert line(small, "dashboard scans") == pytest.approx(queries * 10 * 2**20 / TIB * 5)
    big = estimate(Inputs(30_000_000, 10), TABLE)
    per_query = 30e6 / DAYS_PER_MONTH * 2 * M["parquet_bytes_per_event"] * 0.5
    assert line(big, "dashboard scans") == pytest.approx(queries * per_query / TIB * 5)


def test_idle_floor_matches_hand_computation_and_the_goal() -> None:
    floor = summarize(Inputs(3_000_000, 10), TABLE).idle_floor
    by_hand = (
        RUNS * 0.6 * 3008 / 1024 * P["lambda_x86_per_gb_second"]  # export runs with nothing to do
        + RUNS / 1e6 * 0.20
        + RUNS * 4 / 1e6 * 0.625  # checkpoint and lease writes
        + RUNS * (2 * 16 + 2) / 1e6 * 0.125  # one Query per (dataset, shard), state reads
        + 1 * 0.03  # KMS
        + 730 * 2 * 2 / 1000 * 0.005  # Athena result files
        + 730 * 2 * 10 * 2**20 / TIB * 5  # dashboard queries billed the 10 MB minimum
        + RUNS * 1500 / GIB * (0.50 + 30 / DAYS_PER_MONTH * 0.03)  # export logs
        + 1 * 0.30
        + 6 * 0.10
        + RUNS / 1000 * 0.01  # one custom metric (ExportLagSeconds), alarms, PutMetricData
        + 1.00  # the alarm topic's customer managed KMS key
        + RUNS * 0.6 * (4096 - 512) / 1024 * P["lambda_ephemeral_per_gb_second"]  # the rollup spill's disk, while idle too
    )
    assert floor == pytest.approx(by_hand)
    assert floor <= TABLE["goals"]["idle_floor_per_month"]


@pytest.mark.parametrize("events", [3_000_000, 30_000_000])
def test_variable_cost_per_million_meets_the_goal_at_10_events_per_request(events: int) -> None:
    s = summarize(Inputs(events, 10), TABLE)
    assert s.per_million_variable == pytest.approx((s.month.total - s.idle_floor) / (events / 1e6))
    assert s.per_million_variable <= TABLE["goals"]["variable_per_million_events_at_10_per_request"]
    assert s.month.total < TABLE["reference"]["monthly_cost"] * events / TABLE["reference"]["events_per_month"]


def test_quicksight_seats_add_a_fixed_cost_outside_the_goals() -> None:
    base = summarize(Inputs(3_000_000, 10), TABLE)
    seats = summarize(Inputs(3_000_000, 10, quicksight_authors=1, quicksight_readers=5), TABLE)
    assert seats.month.total - base.month.total == pytest.approx(24 + 5 * 3)
    assert seats.idle_floor == base.idle_floor
    assert seats.per_million_variable == pytest.approx(base.per_million_variable)


def test_waf_adds_its_fixed_fee_and_a_per_request_fee() -> None:
    without = estimate(Inputs(3_000_000, 10), TABLE).total
    with_waf = estimate(Inputs(3_000_000, 10, waf=True), TABLE).total
    assert with_waf - without == pytest.approx(5 + 1 + 0.3 * 0.60)


def test_small_parquet_files_stay_in_standard_storage() -> None:
    # 3M events in 8,760 files is ~16 KiB a file at 48 bytes/event: below the 128 KiB S3 lifecycle minimum.
    est = estimate(Inputs(3_000_000, 10), TABLE)
    assert line(est, "lake in Standard") == pytest.approx(3e6 * M["parquet_bytes_per_event"] / GIB * 12 * 0.023)
    assert line(est, "lake in Glacier IR") == 0


def test_stage_profile_reads_sizes_and_schedule_from_the_chalice_config(tmp_path: Path) -> None:
    config = {
        "environment_variables": {"CLICKSTREAM_EVENT_TTL_DAYS": "3"},
        "lambda_functions": {"api_handler": {"lambda_memory_size": 256}, "export_events": {"lambda_memory_size": 1024}},
        "stages": {
            "dev": {
                "environment_variables": {"CLICKSTREAM_EXPORT_SCHEDULE_MINUTES": "10"},
                "lambda_functions": {"api_handler": {"lambda_memory_size": 128}},
            }
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert stage_profile("dev", path) == Profile(
        stage="dev", api_memory_mb=128, export_memory_mb=1024, export_every_minutes=10, event_ttl_days=3, write_shards=16
    )
    with pytest.raises(click.BadParameter):
        stage_profile("prod", path)


def test_halving_the_schedule_halves_the_export_invocations() -> None:
    every5 = estimate(Inputs(0, 10), TABLE)
    every10 = estimate(Inputs(0, 10, profile=replace(Profile(), export_every_minutes=10)), TABLE)
    assert line(every10, "export invocations") == pytest.approx(line(every5, "export invocations") / 2)


def test_cli_prints_services_floor_and_reference() -> None:
    result = CliRunner().invoke(cost, ["--events-per-month", "3000000"])
    assert result.exit_code == 0, result.output
    for text in ("API Gateway", "DynamoDB", "Idle floor", "Per million events", "Kinesis reference"):
        assert text in result.output


def test_cli_json_is_machine_readable() -> None:
    result = CliRunner().invoke(cost, ["--events-per-month", "30000000", "--events-per-request", "10", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == pytest.approx(sum(data["services"].values()))
    assert data["reference"]["reference_per_million"] == pytest.approx(65 / 3)
    assert cost.name == "cost"
