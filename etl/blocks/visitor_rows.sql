-- Per visitor, day and dimension in the range: events and page views, from the
-- rollup_visitor_days table up to :rolled_through and from raw events after it (user actions
-- only). visitor_key: the visitor's 64-bit key (docs/decisions/0015-visitor-key.md), what the
-- distinct-visitor counts count. Bots included: filter is_bot. Parameters: :app_id, :date_from, :date_to, :rolled_through.
-- The rolled-up days' events and page views come from rollup_visitor_totals (keyless day totals,
-- decision 0017 step 1), in rows whose visitor_key is NULL; their visitor-day rows carry NULL
-- measures. count(DISTINCT visitor_key) and sum(events) skip the NULLs, so each counts its own
-- rows, and a scan of rollup_visitor_days reads no measure column.
-- Its visitor-day rows are only those of the days after the month rows' (`dt > months_upto`):
-- the panels count earlier days' visitors from rollup_visitor_months (clickstream/lake/month_reads.py).
visitor_rows AS (
  SELECT dt, visitor_key, is_bot, bot_reason, browser, device_type, os, country,
         CAST(NULL AS bigint) AS events, CAST(NULL AS bigint) AS page_views
  FROM rollup_visitor_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
    AND dt > @months_upto  -- days the month rows hold give no key here (month_reads.py)
  UNION ALL
  SELECT dt, CAST(NULL AS bigint) AS visitor_key, is_bot, bot_reason, browser, device_type, os, country, events, page_views
  FROM rollup_visitor_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT dt, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot, bot_reason,
         browser, device_type, os, country,
         count(*) AS events, count_if(event_type = 'page_view') AS page_views
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY dt, @visitor, coalesce(is_bot, false), bot_reason, browser, device_type, os, country
)
