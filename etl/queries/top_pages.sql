-- Top pages: page views and visitors per path.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events; visitors from the month rows
-- (rollup_visitor_months, dim path) through :months_through and the later days' visitors not in
-- them. The answer is the raw events' either way (docs/lake.md, *The modeled lake*;
-- clickstream/lake/month_reads.py has the two arms).
-- The rolled-up days' page views are rollup_page_totals' (keyless day totals, decision 0017 step 1),
-- in rows without a visitor; their page-visitor rows carry no measure (count(DISTINCT) and sum()
-- skip the NULLs), so the scan of rollup_page_days reads no page_views column.
WITH page_rows AS (
  SELECT dt, path, visitor_key, is_bot, CAST(NULL AS bigint) AS page_views
  FROM rollup_page_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
    AND dt > @months_upto  -- days the month rows hold give no key here (month_reads.py)
  UNION ALL
  SELECT dt, path, CAST(NULL AS bigint) AS visitor_key, is_bot, page_views
  FROM rollup_page_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT dt, path, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot,
         count(*) AS page_views
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through AND event_type = 'page_view'
  GROUP BY dt, path, @visitor, coalesce(is_bot, false)
),
parts AS (
  SELECT path, CAST(NULL AS bigint) AS visitors, page_views
  FROM page_rows
  WHERE :include_bots OR NOT is_bot
  UNION ALL
  SELECT path, count(*), CAST(NULL AS bigint)
  FROM @month_rows_path AS mr
  GROUP BY path
  UNION ALL
  SELECT path, count(DISTINCT visitor_key), CAST(NULL AS bigint)
  FROM page_rows v
  WHERE (:include_bots OR NOT is_bot) AND visitor_key IS NOT NULL AND dt > @months_upto AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'path' AND m.visitor_key = v.visitor_key
      AND m.path IS NOT DISTINCT FROM v.path AND @month_seen AND @month_later
  )
  GROUP BY path
)
SELECT path, CAST(sum(page_views) AS bigint) AS page_views, CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors
FROM parts
GROUP BY path
ORDER BY page_views DESC, path
LIMIT 100
