-- Operating systems: visitors, page views and events per OS family (ua-parser; NULL when unknown).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Reads exactly the range's partitions.
SELECT
  os,
  count(DISTINCT anonymous_id) AS visitors,
  count_if(event_type = 'page_view') AS page_views,
  count(*) AS events
FROM events
WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND (:include_bots OR NOT coalesce(is_bot, false)) AND event_type NOT IN ('identify', 'group', 'alias')
GROUP BY os
ORDER BY visitors DESC, events DESC, os
LIMIT 100
