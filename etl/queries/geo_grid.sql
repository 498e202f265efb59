-- Geo grid: positions visitors shared (context.geo, sent with GEO_LOC clicks) counted on cells of
-- 0.1 degree (about 11 km north-south); lat_cell/lon_cell are geo_lat/geo_lon rounded to one decimal.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Reads exactly the range's partitions.
SELECT round(geo_lat, 1) AS lat_cell, round(geo_lon, 1) AS lon_cell, count(*) AS events, count(DISTINCT anonymous_id) AS visitors
FROM events
WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND geo_lat IS NOT NULL AND geo_lon IS NOT NULL
  AND (:include_bots OR NOT coalesce(is_bot, false)) AND event_type NOT IN ('identify', 'group', 'alias')
GROUP BY round(geo_lat, 1), round(geo_lon, 1)
ORDER BY events DESC, lat_cell, lon_cell
LIMIT 1000
