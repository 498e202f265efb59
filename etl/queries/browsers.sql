-- Browsers: visitors, page views and events per browser family (ua-parser; NULL when unknown).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Visitors: the month rows (rollup_visitor_months) through :months_through, later days' visitors
-- not in them; page views and events: the day rollups up to :rolled_through, raw events after
-- (the engine supplies both bounds). The answer is the raw events' either way (docs/lake.md,
-- *The modeled lake*; clickstream/lake/month_reads.py has the two arms).
WITH
-- @include visitor_rows
,
parts AS (
  SELECT browser, CAST(NULL AS bigint) AS visitors, page_views, events
  FROM visitor_rows
  WHERE (:include_bots OR NOT is_bot)
  UNION ALL
  SELECT browser, count(*), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM @month_rows_browser AS mr
  GROUP BY browser
  UNION ALL
  SELECT browser, count(DISTINCT visitor_key), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM visitor_rows v
  WHERE (:include_bots OR NOT is_bot) AND dt > @months_upto AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'browser' AND m.visitor_key = v.visitor_key
      AND m.browser IS NOT DISTINCT FROM v.browser AND @month_seen AND @month_later
  )
  GROUP BY browser
)
SELECT
  browser,
  CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors,
  CAST(sum(page_views) AS bigint) AS page_views,
  CAST(sum(events) AS bigint) AS events
FROM parts
GROUP BY browser
ORDER BY visitors DESC, events DESC, browser
LIMIT 100
