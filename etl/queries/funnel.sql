-- Funnel: of the sessions that started in the range, how many reached each step, in order.
-- :steps is the ordered list of 1 to 10 steps; a step is a page path for page views
-- ('/demo/about') and an event name for other events ('LIKE_WOOD'). A session reaches step k
-- when it has events matching steps 1..k in that order, not necessarily adjacent; one event
-- counts for one step at most. conversion: sessions / sessions at step 1; step_conversion:
-- sessions / sessions at the previous step. (Step names stay with the caller: Athena takes
-- parameters in WHERE clauses only.)
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on. Reads the range's partitions, the last 30 minutes of the day
-- before and the day after; the session CTEs come from
-- etl/blocks/ (`clickstream query --print NAME` shows them expanded).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :steps (array of strings), :include_bots (boolean).
WITH
-- @include range_sessions
,
tagged AS (
  SELECT
    anonymous_id,
    session_no,
    seq,
    CASE WHEN event_type = 'page_view' THEN path ELSE event_name END AS step_key,
    bool_or(in_range AND is_session_start = 1) OVER (PARTITION BY anonymous_id, session_no) AS starts_in_range,
    bool_or(is_bot) OVER (PARTITION BY anonymous_id, session_no) AS session_is_bot
  FROM numbered
),
matches AS (
  SELECT t.anonymous_id, t.session_no, t.seq, s.step
  FROM tagged t
  CROSS JOIN UNNEST(sequence(1, 10)) AS s(step)
  WHERE t.step_key = element_at(:steps, s.step) AND t.starts_in_range AND (:include_bots OR NOT t.session_is_bot)
),
depths AS (
  -- Greedy in-order matching: walk a session's matches by time and advance from step k to
  -- k + 1 on a match of step k + 1. Within one event the higher step comes first, so one
  -- event never advances two steps.
  SELECT reduce(array_agg(step ORDER BY seq, step DESC), CAST(0 AS bigint), (r, x) -> IF(x = r + 1, x, r), r -> r) AS depth
  FROM matches
  GROUP BY anonymous_id, session_no
),
levels AS (
  SELECT step
  FROM UNNEST(sequence(1, 10)) AS l(step)
  WHERE step <= cardinality(:steps)
),
reached AS (
  SELECT l.step, count_if(d.depth >= l.step) AS sessions
  FROM levels l
  LEFT JOIN depths d ON true
  GROUP BY l.step
)
SELECT
  step,
  sessions,
  CAST(sessions AS double) / nullif(first_value(sessions) OVER (ORDER BY step), 0) AS conversion,
  CAST(sessions AS double) / nullif(lag(sessions) OVER (ORDER BY step), 0) AS step_conversion
FROM reached
ORDER BY step
