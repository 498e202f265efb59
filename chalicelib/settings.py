"""Settings read once from the environment.

Order of precedence: explicit argument (``Settings(...)``/``replace``), then the
environment, then the defaults below. Every environment variable name is defined
here and nowhere else, so the deploy template and the tests can list them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any, Mapping

from chalicelib.errors import ConfigError

ENV_PREFIX = "CLICKSTREAM_"

# setting name -> (environment variable, default)
ENV_VARS: dict[str, tuple[str, str]] = {
    "stage": ("CLICKSTREAM_STAGE", "local"),
    "region": ("AWS_REGION", "us-east-1"),
    "table": ("CLICKSTREAM_TABLE", "clickstream-local"),
    "bucket": ("CLICKSTREAM_BUCKET", "clickstream-lake-local"),
    "lake_prefix": ("CLICKSTREAM_LAKE_PREFIX", "lake"),
    "glue_database": ("CLICKSTREAM_GLUE_DATABASE", "clickstream_local"),
    "dynamodb_endpoint": ("CLICKSTREAM_DYNAMODB_ENDPOINT", ""),
    "s3_endpoint": ("CLICKSTREAM_S3_ENDPOINT", ""),
    "write_shards": ("CLICKSTREAM_WRITE_SHARDS", "16"),
    "event_ttl_days": ("CLICKSTREAM_EVENT_TTL_DAYS", "7"),
    "max_event_age_days": ("CLICKSTREAM_MAX_EVENT_AGE_DAYS", "7"),
    "max_future_hours": ("CLICKSTREAM_MAX_FUTURE_HOURS", "24"),
    "import_max_age_days": ("CLICKSTREAM_IMPORT_MAX_AGE_DAYS", "730"),
    "storage_attempts": ("CLICKSTREAM_STORAGE_ATTEMPTS", "6"),
    "key_cache_seconds": ("CLICKSTREAM_KEY_CACHE_SECONDS", "60"),
    "settle_seconds": ("CLICKSTREAM_SETTLE_SECONDS", "30"),
    "export_budget_events": ("CLICKSTREAM_EXPORT_BUDGET_EVENTS", "600000"),
    "export_worker_function": ("CLICKSTREAM_EXPORT_WORKER_FUNCTION", ""),
    "metrics_namespace": ("CLICKSTREAM_METRICS_NAMESPACE", "Clickstream"),
    # Set by Lambda itself; 0 outside Lambda. Caps the export budget (chalicelib/export/budget.py).
    "lambda_memory_mb": ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"),
    "live_cache_seconds": ("CLICKSTREAM_LIVE_CACHE_SECONDS", "5"),
}


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    table: str
    bucket: str
    lake_prefix: str
    glue_database: str
    dynamodb_endpoint: str
    s3_endpoint: str
    write_shards: int
    event_ttl_days: int
    max_event_age_days: int
    max_future_hours: int
    import_max_age_days: int  # /v1/import (Segment): how old a historical message may be
    storage_attempts: int
    key_cache_seconds: int
    settle_seconds: int
    export_budget_events: int
    export_worker_function: str
    metrics_namespace: str
    lambda_memory_mb: int
    live_cache_seconds: int

    @property
    def is_local(self) -> bool:
        return bool(self.dynamodb_endpoint or self.s3_endpoint)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    types = {f.name: f.type for f in fields(Settings)}
    for name, (var, default) in ENV_VARS.items():
        raw = env.get(var, default)
        if types[name] in ("int", int):
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not an integer; the function cannot start") from None
            if value < 0 or (name == "write_shards" and not 1 <= value <= 256):
                raise ConfigError(f"{var}={raw!r} is out of range; the function cannot start")
            values[name] = value
        else:
            values[name] = raw
    return Settings(**values)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return from_env()
