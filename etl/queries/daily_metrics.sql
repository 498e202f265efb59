-- Daily metrics: one row per UTC day of the range with activity; the columns of the
-- daily_metrics view without app_id: dau, wau, mau (distinct visitors active that day /
-- in the 7 / 30 days ending that day), sessions that started that day, page_views that day,
-- bounce_rate and avg_session_duration_s of those sessions. WAU/MAU also read the 29 days
-- before the range (visitor_key, event_type and is_bot only); the day-mask rule is
-- etl/blocks/active_users.sql, shared with the daily_metrics view.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_totals.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
WITH
-- @include session_totals
,
active AS (
  -- Rows of activity (a visitor and day may repeat: one row per visitor-day and dimension). The
  -- visitor is its visitor_key (docs/decisions/0015-visitor-key.md). The rolled-up days' page
  -- views are rollup_visitor_totals' (keyless, decision 0017 step 1), in rows without a visitor
  -- (active_users.sql counts no NULL visitor), only for the range itself.
  SELECT app_id, CAST(dt AS date) AS day, visitor_key AS visitor, CAST(NULL AS bigint) AS page_views
  FROM rollup_visitor_days
  WHERE app_id = :app_id
    AND dt BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m-%d') AND :date_to
    AND dt <= :rolled_through
    AND (:include_bots OR NOT is_bot)
  UNION ALL
  SELECT app_id, CAST(dt AS date) AS day, CAST(NULL AS bigint) AS visitor, page_views
  FROM rollup_visitor_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
    AND (:include_bots OR NOT is_bot)
  UNION ALL
  SELECT app_id, CAST(dt AS date) AS day, @visitor_key AS visitor,
         count_if(event_type = 'page_view') AS page_views
  FROM events
  WHERE app_id = :app_id
    AND dt BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m-%d') AND :date_to
    AND dt > :rolled_through
    AND (:include_bots OR NOT coalesce(is_bot, false))
    AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY app_id, CAST(dt AS date), @visitor
),
bounds AS (
  SELECT app_id, min(day) AS origin, max(day) AS until
  FROM active
  WHERE day BETWEEN CAST(:date_from AS date) AND CAST(:date_to AS date)
  GROUP BY app_id
),
-- @include active_users
,
day_sessions AS (
  SELECT day, CAST(sum(sessions) AS bigint) AS sessions, CAST(sum(bounces) AS bigint) AS bounces,
         CAST(sum(duration_ms) AS double) / (1000 * sum(sessions)) AS avg_duration_s
  FROM session_totals
  WHERE :include_bots OR NOT is_bot
  GROUP BY day
)
SELECT
  d.day,
  CAST(d.dau AS bigint) AS dau,
  CAST(d.wau AS bigint) AS wau,
  CAST(d.mau AS bigint) AS mau,
  coalesce(s.sessions, 0) AS sessions,
  CAST(d.page_views AS bigint) AS page_views,
  CAST(s.bounces AS double) / s.sessions AS bounce_rate,
  s.avg_duration_s AS avg_session_duration_s
FROM daily d
LEFT JOIN day_sessions s ON s.day = d.day
WHERE d.day BETWEEN CAST(:date_from AS date) AND CAST(:date_to AS date) AND d.dau > 0
ORDER BY d.day
