-- One row per session, in the partition of the UTC day it starts on (etl/blocks/sessionize.sql's rule).
-- Derived by the export's housekeeping from the closed days' events (chalicelib/lake/rollup.py),
-- one file per partition (app_id=<app>/dt=<YYYY-MM-DD UTC>/rollup.parquet), rebuilt whole when
-- a day's events change. docs/lake.md, *The modeled lake*, has the columns.
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rollup_sessions` (
  `session_id` string,
  `anonymous_id` string,
  `visitor_key` bigint,
  `user_id` string,
  `session_start` timestamp,
  `session_end` timestamp,
  `duration_s` double,
  `event_count` bigint,
  `page_views` bigint,
  `is_bounce` boolean,
  `entry_path` string,
  `exit_path` string,
  `referrer_host` string,
  `utm_source` string,
  `utm_medium` string,
  `utm_campaign` string,
  `country` string,
  `device_type` string,
  `browser` string,
  `os` string,
  `is_bot` boolean
)
PARTITIONED BY (`app_id` string, `dt` string)
STORED AS PARQUET
LOCATION '${LAKE}/rollup_sessions/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${LAKE}/rollup_sessions/app_id=${app_id}/dt=${dt}/',
  'parquet.compression' = 'SNAPPY'
)
