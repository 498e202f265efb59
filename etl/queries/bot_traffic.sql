-- Bot traffic: what the other panels leave out by default, per bot_reason (known_crawler,
-- user_agent_contains:<word>, missing_user_agent) and browser.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
WITH
-- @include visitor_rows
SELECT bot_reason, browser, CAST(sum(events) AS bigint) AS events, CAST(sum(page_views) AS bigint) AS page_views,
       count(DISTINCT visitor_key) AS visitors
FROM visitor_rows
WHERE is_bot
GROUP BY bot_reason, browser
ORDER BY events DESC, bot_reason, browser
LIMIT 100
