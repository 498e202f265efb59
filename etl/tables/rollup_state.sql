-- What the rollups may be read for, per app: the export's housekeeping writes state-<tables>.parquet
-- (one row, rolled_through = the last day every rollup table holds, no day up to it dirty), and
-- whatever is about to change the app's events first writes a hold-*.parquet with a lower day
-- (chalicelib/export/rollups.py). Readers take the least value of the app's files, none meaning
-- nothing rolled up: SELECT coalesce(min(rolled_through), '0001-01-01') FROM rollup_state
-- WHERE app_id = ... (the QuickSight datasets' custom SQL does exactly this). Not partitioned
-- by day: a folder per app (app_id=<app>/), a few bytes.
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rollup_state` (
  `rolled_through` string
)
PARTITIONED BY (`app_id` string)
STORED AS PARQUET
LOCATION '${LAKE}/rollup_state/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.app_id.type' = 'injected',
  'storage.location.template' = '${LAKE}/rollup_state/app_id=${app_id}/',
  'parquet.compression' = 'SNAPPY'
)
