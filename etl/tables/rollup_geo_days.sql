-- Per shared position (exact geo_lat/geo_lon), visitor, UTC day, browser and country: events
-- (geo_grid rounds them; by browser and country for the views filtered by them, scope.py ROW_KEPT).
-- Derived by the export's housekeeping from the closed days' events (chalicelib/lake/rollup.py),
-- one file per partition (app_id=<app>/dt=<YYYY-MM-DD UTC>/rollup.parquet), rebuilt whole when
-- a day's events change. docs/lake.md, *The modeled lake*, has the columns. The visitor is its
-- visitor_key (docs/decisions/0015-visitor-key.md), what the panels count distinct.
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rollup_geo_days` (
  `visitor_key` bigint,
  `is_bot` boolean,
  `geo_lat` double,
  `geo_lon` double,
  `browser` string,
  `country` string,
  `events` bigint
)
PARTITIONED BY (`app_id` string, `dt` string)
STORED AS PARQUET
LOCATION '${LAKE}/rollup_geo_days/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2020-01-01,NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '${LAKE}/rollup_geo_days/app_id=${app_id}/dt=${dt}/',
  'parquet.compression' = 'SNAPPY'
)
