-- Per app and UTC day with activity, people only (is_bot = false; bots are in bot_traffic):
--   dau / wau / mau: distinct anonymous_ids active that day / in the 7 / 30 days ending that day;
--   sessions, bounce_rate, avg_session_duration_s: of the sessions that started that day;
--   page_views: page_view events that day.
-- Rolling counts without a range join: a visitor active on day d is counted on d .. d+6 (WAU)
-- and d .. d+29 (MAU). Active days closer than the window merge into one run, so a visitor
-- adds +1 on the day a run starts and -1 on the day after it ends; the running sum is the count.
CREATE OR REPLACE VIEW daily_metrics AS
WITH active AS (
  SELECT app_id, CAST(dt AS date) AS day, anonymous_id, count_if(event_type = 'page_view') AS page_views
  FROM events
  WHERE NOT coalesce(is_bot, false)
  GROUP BY app_id, CAST(dt AS date), anonymous_id
),
runs AS (
  SELECT
    app_id,
    day,
    page_views,
    lag(day) OVER (PARTITION BY app_id, anonymous_id ORDER BY day) AS prev_day,
    lead(day) OVER (PARTITION BY app_id, anonymous_id ORDER BY day) AS next_day
  FROM active
),
shifted AS (
  SELECT
    r.app_id,
    CAST(date_add('day', s.shift, r.day) AS date) AS day,
    CASE WHEN s.shift = 0 THEN 1 ELSE 0 END AS d_dau,
    CASE WHEN s.shift = 0 THEN r.page_views ELSE 0 END AS d_page_views,
    CASE
      WHEN s.shift = 0 AND (r.prev_day IS NULL OR date_diff('day', r.prev_day, r.day) > 7) THEN 1
      WHEN s.shift = 7 AND (r.next_day IS NULL OR date_diff('day', r.day, r.next_day) > 7) THEN -1
      ELSE 0
    END AS d_wau,
    CASE
      WHEN s.shift = 0 AND (r.prev_day IS NULL OR date_diff('day', r.prev_day, r.day) > 30) THEN 1
      WHEN s.shift = 30 AND (r.next_day IS NULL OR date_diff('day', r.day, r.next_day) > 30) THEN -1
      ELSE 0
    END AS d_mau
  FROM runs r
  CROSS JOIN UNNEST(ARRAY[0, 7, 30]) AS s(shift)
),
daily AS (
  SELECT
    app_id,
    day,
    sum(d_dau) AS dau,
    sum(d_page_views) AS page_views,
    sum(sum(d_wau)) OVER (PARTITION BY app_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS wau,
    sum(sum(d_mau)) OVER (PARTITION BY app_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS mau
  FROM shifted
  GROUP BY app_id, day
),
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
