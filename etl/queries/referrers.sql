-- Referrers: sessions per referring host of the session's first event (NULL: direct or unknown).
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events; visitors from the month rows
-- (rollup_visitor_months, dim referrer) through :months_through and the visitors of the sessions
-- starting later not in them. The answer is the raw events' either way (docs/lake.md, *The
-- modeled lake*; clickstream/lake/month_reads.py has the two arms).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- The rolled-up days' sessions and bounces are rollup_referrer_totals (keyless day totals, decision 0017
-- step 1), in rows without a visitor; the rolled-up session rows carry none (session_rows.sql).
WITH
-- @include session_rows
,
referrer_rows AS (
  SELECT visitor_key, is_bot, referrer_host, sessions, bounces, session_start
  FROM session_rows
  UNION ALL
  SELECT CAST(NULL AS bigint) AS visitor_key, is_bot, referrer_host, sessions, bounces, CAST(NULL AS timestamp) AS session_start
  FROM rollup_referrer_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
),
parts AS (
  SELECT referrer_host, CAST(NULL AS bigint) AS visitors, sessions, bounces
  FROM referrer_rows
  WHERE :include_bots OR NOT is_bot
  UNION ALL
  SELECT referrer_host, count(*), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM @month_rows_referrer AS mr
  GROUP BY referrer_host
  UNION ALL
  SELECT referrer_host, count(DISTINCT visitor_key), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM referrer_rows v
  WHERE (:include_bots OR NOT is_bot) AND visitor_key IS NOT NULL
    AND CAST(session_start AS date) > CAST(@months_upto AS date) AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'referrer' AND m.visitor_key = v.visitor_key
      AND m.referrer_host IS NOT DISTINCT FROM v.referrer_host AND @month_seen AND @month_later
  )
  GROUP BY referrer_host
)
SELECT
  referrer_host,
  CAST(sum(sessions) AS bigint) AS sessions,
  CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors,
  CAST(sum(bounces) AS double) / sum(sessions) AS bounce_rate
FROM parts
GROUP BY referrer_host
ORDER BY sessions DESC, referrer_host
LIMIT 100
