-- What the rollups may be read for, per app: the export's housekeeping writes state-<tag>.parquet
-- (one row, rolled_through = the last day every rollup table holds, no day up to it dirty;
-- vouches = the tag of the set of tables and spec funnels it was built for), and whatever is
-- about to change the app's events first writes a hold-*.parquet with a lower day and a null
-- vouches (chalicelib/export/rollups.py). Readers take raw events only unless a state vouches for
-- their own set, else the least value of that state and the holds (rollups.least; the QuickSight
-- datasets' custom SQL: clickstream/dashboard/quicksight_requests.py ROLLED_THROUGH_SQL).
-- months_through (a state's; null in a hold): the same for rollup_visitor_months, at most
-- rolled_through and before the first day of a month being rebuilt; its readers take the least
-- of it and the holds' rolled_through (rollups.values_of with grain "months"). Not
-- partitioned by day: a folder per app (app_id=<app>/), a few bytes.
CREATE EXTERNAL TABLE IF NOT EXISTS `${DATABASE}`.`rollup_state` (
  `rolled_through` string,
  `vouches` string,
  `months_through` string
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
