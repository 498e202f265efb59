-- Exit pages: sessions per last page viewed (path), with visitors.
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
  exit_path AS path,
  count(*) AS exits,
  count(DISTINCT anonymous_id) AS visitors
FROM visits
WHERE starts_in_range AND exit_path IS NOT NULL AND (:include_bots OR NOT is_bot)
GROUP BY exit_path
ORDER BY exits DESC, path
LIMIT 100
