-- Custom events: events other than page views (LIKE_WOOD, UNLIKE_WOOD, CLICK_LANG, GEO_LOC, ...)
-- per event_type and event_name, with the visitors who sent them.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Reads exactly the range's partitions.
SELECT event_type, event_name, count(*) AS events, count(DISTINCT anonymous_id) AS visitors
FROM events
WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND event_type <> 'page_view' AND event_type NOT IN ('identify', 'group', 'alias')
  AND (:include_bots OR NOT coalesce(is_bot, false))
GROUP BY event_type, event_name
ORDER BY events DESC, event_type, event_name
LIMIT 100
