-- Top pages: page views and visitors per path.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
-- The rolled-up days' page views are rollup_page_totals' (keyless day totals, decision 0017 step 1),
-- in rows without a visitor; their page-visitor rows carry no measure (count(DISTINCT) and sum()
-- skip the NULLs), so the scan of rollup_page_days reads no page_views column.
WITH page_rows AS (
  SELECT path, visitor_key, is_bot, CAST(NULL AS bigint) AS page_views
  FROM rollup_page_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT path, CAST(NULL AS bigint) AS visitor_key, is_bot, page_views
  FROM rollup_page_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT path, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot,
         count(*) AS page_views
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through AND event_type = 'page_view'
  GROUP BY path, @visitor, coalesce(is_bot, false)
)
SELECT path, CAST(sum(page_views) AS bigint) AS page_views, count(DISTINCT visitor_key) AS visitors
FROM page_rows
WHERE :include_bots OR NOT is_bot
GROUP BY path
ORDER BY page_views DESC, path
LIMIT 100
