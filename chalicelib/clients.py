"""boto3 clients built once per process, pointed at AWS or at the local servers.

One code path: the only difference between local and AWS is the endpoint URL.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import Settings

# Our own retry loops decide when to give up (and answer 503); botocore's
# standard mode retries a few times below them for connection errors.
_BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=10,
    max_pool_connections=32,
)


def _credentials(settings: Settings) -> dict[str, str]:
    # Never send real credentials to the local servers. s3rver knows one key pair,
    # S3RVER/S3RVER; dynalite accepts any.
    if settings.is_local:
        return {"aws_access_key_id": "S3RVER", "aws_secret_access_key": "S3RVER"}
    return {}


@lru_cache(maxsize=8)
def dynamodb(settings: Settings) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        region_name=settings.region,
        endpoint_url=settings.dynamodb_endpoint or None,
        config=_BOTO_CONFIG,
        **_credentials(settings),
    )


@lru_cache(maxsize=8)
def s3(settings: Settings) -> Any:
    return boto3.session.Session().client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.s3_endpoint or None,
        config=_BOTO_CONFIG.merge(Config(s3={"addressing_style": "path"})) if settings.s3_endpoint else _BOTO_CONFIG,
        **_credentials(settings),
    )
