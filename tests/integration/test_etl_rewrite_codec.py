"""`clickstream etl rewrite-codec`: a lake written with zstd (before the codec rule) becomes readable by the layer."""

from __future__ import annotations

import io
import time

import pyarrow.parquet as pq
from click.testing import CliRunner

from chalicelib import clients
from chalicelib.lake.codecs import LAKE_CODEC, LAYER_CODECS
from clickstream.cli import main
from clickstream.recode import codecs_of
from tests.lake_helpers import event, lake_files, store


def cli_env(settings):
    return {
        "CLICKSTREAM_DYNAMODB_ENDPOINT": settings.dynamodb_endpoint,
        "CLICKSTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "CLICKSTREAM_TABLE": settings.table,
        "CLICKSTREAM_BUCKET": settings.bucket,
        "CLICKSTREAM_SETTLE_SECONDS": "0",
        "CLICKSTREAM_WRITE_SHARDS": str(settings.write_shards),
    }


def test_zstd_files_are_rewritten_in_the_lake_codec_with_the_same_rows_once(settings):
    # GIVEN an exported partition, and a file of it rewritten with zstd as the old CLI wrote it
    now = int(time.time() * 1000)
    store(settings, [event(f"e{i}", now - 5000) for i in range(5)], received_ms=now - 2000, app_id="shop")
    runner = CliRunner()
    assert runner.invoke(main, ["etl", "run"], env=cli_env(settings)).exit_code == 0
    s3 = clients.s3(settings)
    keys = lake_files(settings)
    old = keys[0]
    original = pq.read_table(io.BytesIO(s3.get_object(Bucket=settings.bucket, Key=old)["Body"].read()))
    sink = io.BytesIO()
    pq.write_table(original, sink, compression="zstd")
    s3.put_object(Bucket=settings.bucket, Key=old, Body=sink.getvalue())

    # WHEN a dry run, then the rewrite, then the rewrite again
    dry = runner.invoke(main, ["etl", "rewrite-codec", "--dry-run"], env=cli_env(settings))
    assert dry.exit_code == 0, dry.output
    assert "would rewrite 1 of" in dry.output and old in dry.output
    body = s3.get_object(Bucket=settings.bucket, Key=old)["Body"].read()
    assert codecs_of(body) == {"zstd"}  # the dry run changed nothing
    done = runner.invoke(main, ["etl", "rewrite-codec"], env=cli_env(settings))
    again = runner.invoke(main, ["etl", "rewrite-codec"], env=cli_env(settings))

    # THEN the file holds the same rows in the lake codec, and nothing is left to do
    assert done.exit_code == 0 and "rewrote 1 of" in done.output, done.output
    body = s3.get_object(Bucket=settings.bucket, Key=old)["Body"].read()
    assert codecs_of(body) == {LAKE_CODEC} <= LAYER_CODECS
    assert pq.read_table(io.BytesIO(body)).equals(original)
    assert "rewrote 0 of" in again.output, again.output
    assert lake_files(settings) == keys
