-- Per spec funnel (steps joined by chr(31)): one row per session that started that UTC day and
-- reached at least its step 1, with its visitor, bot flag and depth (the step it reached,
-- etl/queries/funnel.sql's greedy rule): rollup_funnel_days one session at a time. What a
-- dashboard view filtered by visitors counts (clickstream/dashboard/scope.py).
-- Derived by the export's housekeeping from the closed days' events (chalicelib/lake/rollup.py),
-- one file per partition (app_id=<app>/dt=<YYYY-MM-DD UTC>/rollup.parquet), rebuilt whole when
-- a day's events change. docs/lake.md, *The modeled lake*, has the columns.
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rollup_funnel_sessions` (
  `visitor_key` bigint,
  `funnel` string,
  `is_bot` boolean,
  `depth` bigint
)
PARTITIONED BY (`app_id` string, `dt` string)
STORED AS PARQUET
LOCATION '${LAKE}/rollup_funnel_sessions/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${LAKE}/rollup_funnel_sessions/app_id=${app_id}/dt=${dt}/',
  'parquet.compression' = 'SNAPPY'
)
