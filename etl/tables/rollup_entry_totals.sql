-- Per UTC day (the sessions' start), bot flag and entry page: sessions and bounces (counted from
-- rollup_sessions, no visitor): what entry_pages sums over the rolled-up days.
-- Keyless per-day totals (docs/decisions/0017-month-grain-and-dense-visitor-ids.md, step 1).
-- Derived by the export's housekeeping from the closed days' events (chalicelib/lake/rollup.py),
-- one file per partition (app_id=<app>/dt=<YYYY-MM-DD UTC>/rollup.parquet), rebuilt whole when
-- a day's events change. docs/lake.md, *The modeled lake*, has the columns.
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rollup_entry_totals` (
  `is_bot` boolean,
  `entry_path` string,
  `sessions` bigint,
  `bounces` bigint
)
PARTITIONED BY (`app_id` string, `dt` string)
STORED AS PARQUET
LOCATION '${LAKE}/rollup_entry_totals/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${LAKE}/rollup_entry_totals/app_id=${app_id}/dt=${dt}/',
  'parquet.compression' = 'SNAPPY'
)
