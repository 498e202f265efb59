-- Per app, month, dimension (`dim`), value and visitor: the visitor's days with that value in the
-- month as bitmasks (bit d-1: day d; all rows and people only) and its last such day in the four
-- months before (`prev_*`, NULL if none), the first and last day in each mask (`first_day_*`,
-- `last_day_*`, NULL if none: what a range over more than one month reads instead of the mask);
-- the `overall` rows also hold retention's history
-- (`hist1_*`..`hist4_*`: the four months before, each ISO week's last active day). A file holds
-- one dimension's value columns; the others' read as NULL (decision 0017 step 2).
-- Built by the export's housekeeping from the day rollups and the previous month's carry
-- (chalicelib/export/months.py), in key-range parts
-- (app_id=<app>/dim=<dim>/month=<YYYY-MM>/part-<i>-of-<n>.parquet), the current month rebuilt
-- each day closed. Read a month's rows only for days <= rolled_through (mask the later days off).
-- docs/lake.md, *The month grain*, has the columns.
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rollup_visitor_months` (
  `visitor_key` bigint,
  `mask_all` int,
  `mask_people` int,
  `prev_all` date,
  `prev_people` date,
  `first_day_all` tinyint,
  `last_day_all` tinyint,
  `first_day_people` tinyint,
  `last_day_people` tinyint,
  `hist1_all` int,
  `hist1_people` int,
  `hist2_all` int,
  `hist2_people` int,
  `hist3_all` int,
  `hist3_people` int,
  `hist4_all` int,
  `hist4_people` int,
  `browser` string,
  `country` string,
  `device_type` string,
  `os` string,
  `bot_reason` string,
  `path` string,
  `event_type` string,
  `event_name` string,
  `lat_cell` double,
  `lon_cell` double,
  `entry_path` string,
  `exit_path` string,
  `referrer_host` string,
  `utm_source` string,
  `utm_medium` string,
  `utm_campaign` string
)
PARTITIONED BY (`app_id` string, `dim` string, `month` string)
STORED AS PARQUET
LOCATION '${LAKE}/rollup_visitor_months/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'projection.dim.type' = 'enum',
  'projection.dim.values' = 'overall,browser,country,device,os,bot,path,event,geo,entry,exit,referrer,utm',
  'projection.month.type' = 'date',
  'projection.month.format' = 'yyyy-MM',
  'projection.month.range' = '2020-01,NOW',
  'projection.month.interval' = '1',
  'projection.month.interval.unit' = 'MONTHS',
  'storage.location.template' = '${LAKE}/rollup_visitor_months/app_id=${app_id}/dim=${dim}/month=${month}/',
  'parquet.compression' = 'SNAPPY'
)
