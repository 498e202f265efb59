-- Referrers: sessions per referring host of the session's first event (NULL: direct or unknown).
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on. Reads the range's partitions, the last 30 minutes of the day
-- before and the day after; the session CTEs come from
-- etl/blocks/ (`clickstream query --print NAME` shows them expanded).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
WITH
-- @include range_sessions
,
-- @include visits
SELECT
  referrer_host,
  count(*) AS sessions,
  count(DISTINCT anonymous_id) AS visitors,
  CAST(count_if(is_bounce) AS double) / count(*) AS bounce_rate
FROM visits
WHERE starts_in_range AND (:include_bots OR NOT is_bot)
GROUP BY referrer_host
ORDER BY sessions DESC, referrer_host
LIMIT 100
