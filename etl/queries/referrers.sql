-- Referrers: sessions per referring host of the session's first event (NULL: direct or unknown).
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- The rolled-up days' sessions and bounces are rollup_referrer_totals (keyless day totals, decision 0017
-- step 1), in rows without a visitor; the rolled-up session rows carry none (session_rows.sql).
WITH
-- @include session_rows
,
referrer_rows AS (
  SELECT visitor_key, is_bot, referrer_host, sessions, bounces
  FROM session_rows
  UNION ALL
  SELECT CAST(NULL AS bigint) AS visitor_key, is_bot, referrer_host, sessions, bounces
  FROM rollup_referrer_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
)
SELECT
  referrer_host,
  CAST(sum(sessions) AS bigint) AS sessions,
  count(DISTINCT visitor_key) AS visitors,
  CAST(sum(bounces) AS double) / sum(sessions) AS bounce_rate
FROM referrer_rows
WHERE (:include_bots OR NOT is_bot)
GROUP BY referrer_host
ORDER BY sessions DESC, referrer_host
LIMIT 100
