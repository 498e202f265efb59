-- Devices: visitors, page views and events per device type (desktop, mobile, tablet, other; bot with bots).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
WITH
-- @include visitor_rows
SELECT
  device_type,
  count(DISTINCT visitor_key) AS visitors,
  CAST(sum(page_views) AS bigint) AS page_views,
  CAST(sum(events) AS bigint) AS events
FROM visitor_rows
WHERE :include_bots OR NOT is_bot
GROUP BY device_type
ORDER BY visitors DESC, events DESC, device_type
LIMIT 100
