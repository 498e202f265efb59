-- Top pages: page views and visitors per path.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Reads exactly the range's partitions.
SELECT path, count(*) AS page_views, count(DISTINCT anonymous_id) AS visitors
FROM events
WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND event_type = 'page_view'
  AND (:include_bots OR NOT coalesce(is_bot, false))
GROUP BY path
ORDER BY page_views DESC, path
LIMIT 100
