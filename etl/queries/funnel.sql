-- Funnel: of the sessions that started in the range, how many reached each step, in order.
-- :steps is the ordered list of 1 to 10 steps; a step is a page path for page views
-- ('/demo/about') and an event name for other events ('LIKE_WOOD'). A session reaches step k
-- when it has events matching steps 1..k in that order, not necessarily adjacent; one event
-- counts for one step at most. conversion: sessions / sessions at step 1; step_conversion:
-- sessions / sessions at the previous step. (Step names stay with the caller: Athena takes
-- parameters in WHERE clauses only.)
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on.
-- A funnel of the dashboard spec (the gates `:steps IN (...)` below, whose list
-- clickstream.lake.catalog writes from chalicelib.lake.rollup.FUNNELS as array literals; that
-- list is the spec's `funnels`, tests/unit/test_rollup_funnels.py) reads rollup_funnel_days for
-- the days up to :rolled_through and raw events after them, numbered by
-- etl/blocks/tail_sessions.sql and visits.sql: the same CTEs as the session panels', so a
-- composed dashboard page (clickstream.lake.batch) sessionizes the tail once for all of them.
-- Any other (ad-hoc) funnel reads raw events for the whole range: the range's partitions, the
-- last 30 minutes of the day before and the day after, numbered by the same blocks under other
-- names (`adhoc_`). Each side is gated by :steps, a constant, so the
-- other reads no partition (the tail's gate sits on its uses, its shared text cannot carry it).
-- The answer is the raw events' either way (docs/lake.md).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :steps (array of strings),
-- :include_bots (boolean), :rolled_through (the engine supplies it).
WITH
-- @include tail_sessions
,
-- @include visits
,
adhoc_scoped AS (
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path,
         CAST(NULL AS varchar) AS referrer_host, CAST(NULL AS varchar) AS utm_source, CAST(NULL AS varchar) AS utm_medium,
         CAST(NULL AS varchar) AS utm_campaign, coalesce(is_bot, false) AS is_bot, true AS in_range
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to
    AND NOT (:steps IN (@spec_funnels))
    AND event_type NOT IN ('identify', 'group', 'alias')
  UNION ALL
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path,
         CAST(NULL AS varchar) AS referrer_host, CAST(NULL AS varchar) AS utm_source, CAST(NULL AS varchar) AS utm_medium,
         CAST(NULL AS varchar) AS utm_campaign, coalesce(is_bot, false) AS is_bot, false AS in_range
  FROM events
  WHERE app_id = :app_id AND dt = date_format(date_add('day', -1, CAST(:date_from AS date)), '%Y-%m-%d')
    AND NOT (:steps IN (@spec_funnels))
    AND event_time >= date_add('minute', 1410, CAST(CAST(dt AS date) AS timestamp))
    AND event_type NOT IN ('identify', 'group', 'alias')
  UNION ALL
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path,
         CAST(NULL AS varchar) AS referrer_host, CAST(NULL AS varchar) AS utm_source, CAST(NULL AS varchar) AS utm_medium,
         CAST(NULL AS varchar) AS utm_campaign, coalesce(is_bot, false) AS is_bot, false AS in_range
  FROM events
  WHERE app_id = :app_id AND dt = date_format(date_add('day', 1, CAST(:date_to AS date)), '%Y-%m-%d')
    AND NOT (:steps IN (@spec_funnels))
    AND event_type NOT IN ('identify', 'group', 'alias')
),
-- @include sessionize as adhoc
,
-- @include visits as adhoc
,
-- The funnel's events and the sessions it counts (starting in the range; people only unless
-- :include_bots): the tail's, shared with the session panels, for a spec funnel; the range's
-- otherwise.
stepped AS (
  SELECT anonymous_id, session_no, seq, CASE WHEN event_type = 'page_view' THEN path ELSE event_name END AS step_key
  FROM numbered
  WHERE :steps IN (@spec_funnels) AND in_session_cut
  UNION ALL
  SELECT anonymous_id, session_no, seq, CASE WHEN event_type = 'page_view' THEN path ELSE event_name END AS step_key
  FROM adhoc_numbered
  WHERE in_session_cut
),
counted AS (
  SELECT anonymous_id, session_no
  FROM visits
  WHERE :steps IN (@spec_funnels) AND starts_in_range AND (:include_bots OR NOT is_bot)
  UNION ALL
  SELECT anonymous_id, session_no
  FROM adhoc_visits
  WHERE starts_in_range AND (:include_bots OR NOT is_bot)
),
matches AS (
  SELECT t.anonymous_id, t.session_no, t.seq, s.step
  FROM stepped t
  JOIN counted c ON c.anonymous_id IS NOT DISTINCT FROM t.anonymous_id AND c.session_no = t.session_no
  CROSS JOIN UNNEST(sequence(1, 10)) AS s(step)
  WHERE contains(:steps, t.step_key) AND t.step_key = element_at(:steps, s.step)
),
depths AS (
  -- Greedy in-order matching: walk a session's matches by time and advance from step k to
  -- k + 1 on a match of step k + 1. Within one event the higher step comes first, so one
  -- event never advances two steps. (chalicelib.lake.rollup.funnel_depths does the same.)
  SELECT reduce(array_agg(step ORDER BY seq, step DESC), CAST(0 AS bigint), (r, x) -> IF(x = r + 1, x, r), r -> r) AS depth,
         CAST(1 AS bigint) AS sessions
  FROM matches
  GROUP BY anonymous_id, session_no
  UNION ALL
  -- Sessions of the rolled-up days, counted by the depth they reached.
  SELECT depth, sessions
  FROM rollup_funnel_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
    AND :steps IN (@spec_funnels) AND funnel = array_join(:steps, chr(31))
    AND (:include_bots OR NOT is_bot)
),
levels AS (
  SELECT step
  FROM UNNEST(sequence(1, 10)) AS l(step)
  WHERE step <= cardinality(:steps)
),
reached AS (
  SELECT l.step, coalesce(sum(CASE WHEN d.depth >= l.step THEN d.sessions END), 0) AS sessions
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
