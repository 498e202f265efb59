-- Overview: the headline numbers of the range, one row. visitors: distinct anonymous_ids with an
-- event in the range; page_views and events: in the range; sessions, bounce_rate (share of
-- sessions with a single event) and avg_session_duration_s: sessions that started in the range.
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
  count(DISTINCT CASE WHEN range_events > 0 THEN anonymous_id END) AS visitors,
  count_if(starts_in_range) AS sessions,
  CAST(coalesce(sum(range_page_views), 0) AS bigint) AS page_views,
  CAST(coalesce(sum(range_events), 0) AS bigint) AS events,
  CAST(count_if(starts_in_range AND is_bounce) AS double) / nullif(count_if(starts_in_range), 0) AS bounce_rate,
  avg(CASE WHEN starts_in_range THEN duration_s END) AS avg_session_duration_s
FROM visits
WHERE :include_bots OR NOT is_bot
