-- Per UTC day and bot flag, the sessions that start in the range [:date_from, :date_to]: how
-- many, how many of one event (bounces), their summed duration in milliseconds. From the
-- rollup_session_totals table (two rows a day) for days up to :rolled_through, and from raw
-- events after it (tail_sessions.sql + visits.sql, as session_rows.sql): the same sessions, so
-- the same sums (tests/unit/test_rollup_equality.py). What overview and daily_metrics need of
-- sessions, without a row per session. Parameters: :app_id, :date_from, :date_to, :rolled_through.
-- @include tail_sessions
,
-- @include visits
,
session_totals AS (
  SELECT CAST(dt AS date) AS day, is_bot, sessions, bounces, duration_ms
  FROM rollup_session_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT CAST(session_start AS date) AS day, is_bot, count(*) AS sessions, count_if(is_bounce) AS bounces,
         CAST(sum(duration_ms) AS bigint) AS duration_ms
  FROM visits
  WHERE starts_in_range
  GROUP BY CAST(session_start AS date), is_bot
)
