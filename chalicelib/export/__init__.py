"""The scheduled export: DynamoDB items received since the checkpoint → partitioned Parquet on S3.

Imports pyarrow: only the export functions (with the AWS SDK for pandas layer) load this
package; app.py imports it inside the scheduled handlers.

Modules, in the order of the data flow: ``plan`` (pure: windows, partitions, groups,
file names), ``reader`` (Query over raw HTTP), ``schema`` and ``transform`` (items →
Arrow), ``dedup`` (the (app_id, event_id) index), ``writer`` (Parquet on S3), ``state``
(checkpoint and lease), ``compact``, and ``run`` which ties them together.
"""
