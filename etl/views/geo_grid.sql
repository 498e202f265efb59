-- Positions the visitors shared (context.geo, sent by GEO_LOC clicks), counted on a grid of
-- 0.1 degree cells (about 11 km north-south): lat_cell/lon_cell are the cell's centre,
-- geo_lat/geo_lon rounded to one decimal (round(x * 10) / 10: Athena's round(x, 1), which DuckDB's
-- is not on two-decimal edges; etl/queries/geo_grid.sql). Per app and UTC day; people only.
CREATE OR REPLACE VIEW geo_grid AS
SELECT
  app_id, dt,
  CAST(round(geo_lat * 10) AS double) / 10 AS lat_cell, CAST(round(geo_lon * 10) AS double) / 10 AS lon_cell,
  count(*) AS events, count(DISTINCT @visitor) AS visitors
FROM events
WHERE geo_lat IS NOT NULL AND geo_lon IS NOT NULL AND NOT coalesce(is_bot, false) AND event_type NOT IN ('identify', 'group', 'alias')
GROUP BY app_id, dt, CAST(round(geo_lat * 10) AS double) / 10, CAST(round(geo_lon * 10) AS double) / 10
