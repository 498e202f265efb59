-- Positions the visitors shared (context.geo, sent by GEO_LOC clicks), counted on a grid of
-- 0.1 degree cells (about 11 km north-south): lat_cell/lon_cell are the cell's centre,
-- geo_lat/geo_lon rounded to one decimal. Per app and UTC day; people only.
CREATE OR REPLACE VIEW geo_grid AS
SELECT
  app_id, dt, round(geo_lat, 1) AS lat_cell, round(geo_lon, 1) AS lon_cell,
  count(*) AS events, count(DISTINCT @visitor) AS visitors
FROM events
WHERE geo_lat IS NOT NULL AND geo_lon IS NOT NULL AND NOT coalesce(is_bot, false) AND event_type NOT IN ('identify', 'group', 'alias')
GROUP BY app_id, dt, round(geo_lat, 1), round(geo_lon, 1)
