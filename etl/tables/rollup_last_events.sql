-- Per visitor whose last user action of the UTC day is in its last 30 minutes: that action's time
-- (the margin the session queries read of the last rolled-up day, etl/blocks/tail_sessions.sql).
-- Derived by the export's housekeeping from the closed days' events (chalicelib/lake/rollup.py),
-- one file per partition (app_id=<app>/dt=<YYYY-MM-DD UTC>/rollup.parquet), rebuilt whole when
-- a day's events change. docs/lake.md, *The modeled lake*, has the columns.
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rollup_last_events` (
  `anonymous_id` string,
  `last_event_time` timestamp
)
PARTITIONED BY (`app_id` string, `dt` string)
STORED AS PARQUET
LOCATION '${LAKE}/rollup_last_events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${LAKE}/rollup_last_events/app_id=${app_id}/dt=${dt}/',
  'parquet.compression' = 'SNAPPY'
)
