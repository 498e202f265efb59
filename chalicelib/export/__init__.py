"""The scheduled export: DynamoDB items received since the checkpoint → partitioned Parquet on S3.

Imports pyarrow: only the export functions (with the AWS SDK for pandas layer) load this
package; app.py imports it inside the scheduled handlers.

Modules, in the order of the data flow: ``plan`` (pure: windows, key ranges, groups),
``reader`` (Query over raw HTTP), ``dedup`` (the (app_id, event_id) index), ``state``
(checkpoint and lease), ``group`` (one group of one run: read, drop retries, write),
``housekeeping`` (``compact``, dedup expiry, ``retention``), ``session`` (what lease-holding
work may use) and ``run``, the coordinator of one pass. The lake's layout, schema and
Parquet I/O are chalicelib.lake's; the export never imports chalicelib.privacy.
"""
