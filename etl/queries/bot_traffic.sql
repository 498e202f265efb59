-- Bot traffic: what the other panels leave out by default, per bot_reason (known_crawler,
-- user_agent_contains:<word>, missing_user_agent) and browser.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive).
-- Reads exactly the range's partitions.
SELECT bot_reason, browser, count(*) AS events, count_if(event_type = 'page_view') AS page_views, count(DISTINCT anonymous_id) AS visitors
FROM events
WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND coalesce(is_bot, false) AND event_type NOT IN ('identify', 'group', 'alias')
GROUP BY bot_reason, browser
ORDER BY events DESC, bot_reason, browser
LIMIT 100
