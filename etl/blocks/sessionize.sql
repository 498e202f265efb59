-- The session rule, written once: over a CTE `scoped` (app_id, anonymous_id, event_id,
-- event_time and whatever else the includer needs), per (app_id, anonymous_id) an event 30
-- minutes or more after the previous one starts a new session (the tracker's rule,
-- web/tracker.js). Ties in event_time are ordered by event_id, so every engine numbers them
-- the same way. Adds prev_time, seq (order within the visitor), is_session_start (0/1) and
-- session_no (the visitor's session number). Included by etl/views/session_events.sql and,
-- through range_sessions.sql, by every session query in etl/queries.
ordered AS (
  SELECT
    *,
    lag(event_time) OVER (PARTITION BY app_id, anonymous_id ORDER BY event_time, event_id) AS prev_time,
    row_number() OVER (PARTITION BY app_id, anonymous_id ORDER BY event_time, event_id) AS seq
  FROM scoped
),
flagged AS (
  SELECT
    *,
    CASE WHEN prev_time IS NULL OR date_diff('millisecond', prev_time, event_time) >= 1800000 THEN 1 ELSE 0 END AS is_session_start
  FROM ordered
),
numbered AS (
  SELECT *, sum(is_session_start) OVER (PARTITION BY app_id, anonymous_id ORDER BY seq ROWS UNBOUNDED PRECEDING) AS session_no
  FROM flagged
)
