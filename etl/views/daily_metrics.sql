-- Per app and UTC day with activity, people only (is_bot = false; bots are in bot_traffic):
--   dau / wau / mau: distinct visitors (anonymous_id, else 'user:' || user_id) active that day /
--   in the 7 / 30 days ending that day;
--   sessions, bounce_rate, avg_session_duration_s: of the sessions that started that day;
--   page_views: page_view events that day.
-- The rolling counts are etl/blocks/active_users.sql (shared with etl/queries/daily_metrics.sql).
CREATE OR REPLACE VIEW daily_metrics AS
WITH active AS (
  SELECT app_id, CAST(dt AS date) AS day, @visitor AS visitor, count_if(event_type = 'page_view') AS page_views
  FROM events
  WHERE NOT coalesce(is_bot, false) AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY app_id, CAST(dt AS date), @visitor
),
bounds AS (
  SELECT app_id, min(day) AS origin, max(day) AS until
  FROM active
  GROUP BY app_id
),
-- @include active_users
,
day_sessions AS (
  SELECT app_id, CAST(dt AS date) AS day, count(*) AS sessions, count_if(is_bounce) AS bounces, avg(duration_s) AS avg_duration_s
  FROM sessions
  WHERE NOT is_bot
  GROUP BY app_id, CAST(dt AS date)
)
SELECT
  d.app_id,
  d.day,
  CAST(d.dau AS bigint) AS dau,
  CAST(d.wau AS bigint) AS wau,
  CAST(d.mau AS bigint) AS mau,
  coalesce(s.sessions, 0) AS sessions,
  CAST(d.page_views AS bigint) AS page_views,
  CAST(s.bounces AS double) / s.sessions AS bounce_rate,
  s.avg_duration_s AS avg_session_duration_s
FROM daily d
LEFT JOIN day_sessions s ON s.app_id = d.app_id AND s.day = d.day
WHERE d.dau > 0
