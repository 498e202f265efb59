-- Bot traffic: what the other panels leave out by default, per bot_reason (known_crawler,
-- user_agent_contains:<word>, missing_user_agent) and browser.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive).
-- Visitors: the month rows (rollup_visitor_months) through :months_through, later days' visitors
-- not in them; page views and events: the day rollups up to :rolled_through, raw events after
-- (the engine supplies both bounds). The answer is the raw events' either way (docs/lake.md,
-- *The modeled lake*; clickstream/lake/month_reads.py has the two arms).
WITH
-- @include visitor_rows
,
parts AS (
  SELECT bot_reason, browser, CAST(NULL AS bigint) AS visitors, page_views, events
  FROM visitor_rows
  WHERE is_bot
  UNION ALL
  SELECT bot_reason, browser, count(*), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM @month_rows_bot AS mr
  GROUP BY bot_reason, browser
  UNION ALL
  SELECT bot_reason, browser, count(DISTINCT visitor_key), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM visitor_rows v
  WHERE is_bot AND dt > @months_upto AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'bot' AND m.visitor_key = v.visitor_key
      AND m.bot_reason IS NOT DISTINCT FROM v.bot_reason
      AND m.browser IS NOT DISTINCT FROM v.browser AND @month_seen_all AND @month_later
  )
  GROUP BY bot_reason, browser
)
SELECT bot_reason, browser, CAST(sum(events) AS bigint) AS events, CAST(sum(page_views) AS bigint) AS page_views,
       CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors
FROM parts
GROUP BY bot_reason, browser
ORDER BY events DESC, bot_reason, browser
LIMIT 100
