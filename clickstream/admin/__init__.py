"""Operator-only work, run from the CLI and never by a Lambda: backfill, erasure, the deletion
ledger, table and bucket creation. It lives outside chalicelib so it does not ship in the zip.

Work on the lake holds the export lease through ``Exporter.exclusive()`` and uses only the
``Session`` it yields.
"""
