-- Referrers: sessions per referring host of the session's first event (NULL: direct or unknown).
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
WITH
-- @include session_rows
SELECT
  referrer_host,
  count(*) AS sessions,
  count(DISTINCT visitor_key) AS visitors,
  CAST(count_if(is_bounce) AS double) / count(*) AS bounce_rate
FROM session_rows
WHERE (:include_bots OR NOT is_bot)
GROUP BY referrer_host
ORDER BY sessions DESC, referrer_host
LIMIT 100
