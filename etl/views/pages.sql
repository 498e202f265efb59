-- Page views per app, UTC day and path, people only. visitors: distinct anonymous_ids that day
-- (not additive across days; use etl/queries/top_pages.sql for a range).
CREATE OR REPLACE VIEW pages AS
SELECT app_id, dt, path, count(*) AS page_views, count(DISTINCT @visitor) AS visitors
FROM events
WHERE event_type = 'page_view' AND NOT coalesce(is_bot, false)
GROUP BY app_id, dt, path
