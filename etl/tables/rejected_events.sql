-- Events the API rejected, with the reason and the raw event (8 KiB max).
-- Written by the export as snappy Parquet (chalicelib/lake/codecs.py) in Hive partitions app_id=<app>/dt=<YYYY-MM-DD UTC>.
-- Partition projection: no crawler, no MSCK REPAIR. app_id is injected, so a query names
-- the app(s) it reads: WHERE app_id = 'demo' (or IN (...)).
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rejected_events` (
  `received_at` timestamp,
  `reason` string,
  `error` string,
  `event_index` int,
  `event_id` string,
  `raw` string,
  `user_agent` string
)
PARTITIONED BY (`app_id` string, `dt` string)
STORED AS PARQUET
LOCATION '${LAKE}/rejected_events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${LAKE}/rejected_events/app_id=${app_id}/dt=${dt}/',
  'parquet.compression' = 'SNAPPY'
)
