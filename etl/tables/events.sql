-- Every accepted event, once (docs/decisions/0003-export-exactly-once.md).
-- Written by the export as snappy Parquet (chalicelib/lake/codecs.py) in Hive partitions app_id=<app>/dt=<YYYY-MM-DD UTC>.
-- Partition projection: no crawler, no MSCK REPAIR. app_id is injected, so a query names
-- the app(s) it reads: WHERE app_id = 'demo' (or IN (...)).
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`events` (
  `event_id` string,
  `event_type` string,
  `event_name` string,
  `event_time` timestamp,
  `received_at` timestamp,
  `client_timestamp` timestamp,
  `sent_at` timestamp,
  `anonymous_id` string,
  `user_id` string,
  `session_id` string,
  `url` string,
  `path` string,
  `referrer` string,
  `referrer_host` string,
  `title` string,
  `utm_source` string,
  `utm_medium` string,
  `utm_campaign` string,
  `utm_term` string,
  `utm_content` string,
  `ip` string,
  `user_agent` string,
  `browser` string,
  `browser_version` string,
  `os` string,
  `os_version` string,
  `device_type` string,
  `is_bot` boolean,
  `bot_reason` string,
  `country` string,
  `locale` string,
  `timezone` string,
  `screen_width` int,
  `screen_height` int,
  `geo_lat` double,
  `geo_lon` double,
  `geo_accuracy` double,
  `properties` string,
  `context` string,
  `traits` string,
  `group_id` string,
  `previous_id` string
)
PARTITIONED BY (`app_id` string, `dt` string)
STORED AS PARQUET
LOCATION '${LAKE}/events/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${LAKE}/events/app_id=${app_id}/dt=${dt}/',
  'parquet.compression' = 'SNAPPY'
)
