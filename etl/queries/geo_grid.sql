-- Geo grid: positions visitors shared (context.geo, sent with GEO_LOC clicks) counted on cells of
-- 0.1 degree (about 11 km north-south); lat_cell/lon_cell are geo_lat/geo_lon rounded to one decimal,
-- written round(x * 10) / 10 as Athena computes round(x, 1): DuckDB's round(x, 1) rounds the exact
-- binary value (37.65 is 37.6499...: 37.6, where Athena gives 37.7); tests/unit/test_geo_cells.py.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from rollup_geo_days (exact positions, rounded here as for raw events) for the visitors and from
-- rollup_geo_totals (keyless day totals per cell, decision 0017 step 1: the export rounds with the
-- same rule, chalicelib.lake.rollup.geo_cell) for the events, later days from raw events; visitors
-- from the month rows (rollup_visitor_months, dim geo: cells rounded by geo_cell) through
-- :months_through and the later days' visitors not in them. The answer is the raw events' either
-- way (docs/lake.md, *The modeled lake*; clickstream/lake/month_reads.py has the two arms).
-- Reads exactly the range's partitions.
WITH geo_rows AS (
  SELECT dt, CAST(round(geo_lat * 10) AS double) / 10 AS lat_cell, CAST(round(geo_lon * 10) AS double) / 10 AS lon_cell,
         visitor_key, is_bot, CAST(NULL AS bigint) AS events
  FROM rollup_geo_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
    AND dt > @months_upto  -- days the month rows hold give no key here (month_reads.py)
  UNION ALL
  SELECT dt, lat_cell, lon_cell, CAST(NULL AS bigint) AS visitor_key, is_bot, events
  FROM rollup_geo_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT dt, CAST(round(geo_lat * 10) AS double) / 10 AS lat_cell, CAST(round(geo_lon * 10) AS double) / 10 AS lon_cell,
         @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot, count(*) AS events
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND geo_lat IS NOT NULL AND geo_lon IS NOT NULL AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY dt, geo_lat, geo_lon, @visitor, coalesce(is_bot, false)
),
parts AS (
  SELECT lat_cell, lon_cell, CAST(NULL AS bigint) AS visitors, events
  FROM geo_rows
  WHERE :include_bots OR NOT is_bot
  UNION ALL
  SELECT lat_cell, lon_cell, count(*), CAST(NULL AS bigint)
  FROM @month_rows_geo AS mr
  GROUP BY lat_cell, lon_cell
  UNION ALL
  SELECT lat_cell, lon_cell, count(DISTINCT visitor_key), CAST(NULL AS bigint)
  FROM geo_rows v
  WHERE (:include_bots OR NOT is_bot) AND visitor_key IS NOT NULL AND dt > @months_upto AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'geo' AND m.visitor_key = v.visitor_key
      AND m.lat_cell = v.lat_cell AND m.lon_cell = v.lon_cell AND @month_seen AND @month_later
  )
  GROUP BY lat_cell, lon_cell
)
SELECT lat_cell, lon_cell, CAST(sum(events) AS bigint) AS events, CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors
FROM parts
GROUP BY lat_cell, lon_cell
ORDER BY events DESC, lat_cell, lon_cell
LIMIT 1000
