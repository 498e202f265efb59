-- Daily metrics: one row per UTC day of the range with activity; the columns of the
-- daily_metrics view without app_id: dau, wau, mau (distinct anonymous_ids active that day /
-- in the 7 / 30 days ending that day), sessions that started that day, page_views that day,
-- bounce_rate and avg_session_duration_s of those sessions. WAU/MAU also read the 29 days
-- before the range (anonymous_id, event_type and is_bot only); the running-sum rule is the
-- daily_metrics view's.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on. Reads the range's partitions, the last 30 minutes of the day
-- before and the day after; the CTEs up to `visits` are the same in every session query
-- (tests/unit/test_sql_files.py keeps them identical).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
WITH scoped AS (
  -- The range's events (in_range), plus the 30 minutes before it (does the first event of the
  -- range continue an earlier session?) and the day after it (sessions running past midnight).
  SELECT event_id, event_time, event_type, event_name, anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, true AS in_range
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to
  UNION ALL
  SELECT event_id, event_time, event_type, event_name, anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, false AS in_range
  FROM events
  WHERE app_id = :app_id
    AND dt = date_format(date_add('day', -1, CAST(:date_from AS date)), '%Y-%m-%d')
    AND event_time >= date_add('minute', -30, CAST(CAST(:date_from AS date) AS timestamp))
  UNION ALL
  SELECT event_id, event_time, event_type, event_name, anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, false AS in_range
  FROM events
  WHERE app_id = :app_id AND dt = date_format(date_add('day', 1, CAST(:date_to AS date)), '%Y-%m-%d')
),
ordered AS (
  SELECT
    *,
    lag(event_time) OVER (PARTITION BY anonymous_id ORDER BY event_time, event_id) AS prev_time,
    row_number() OVER (PARTITION BY anonymous_id ORDER BY event_time, event_id) AS seq
  FROM scoped
),
flagged AS (
  SELECT
    *,
    CASE WHEN prev_time IS NULL OR date_diff('millisecond', prev_time, event_time) >= 1800000 THEN 1 ELSE 0 END AS is_session_start
  FROM ordered
),
numbered AS (
  SELECT *, sum(is_session_start) OVER (PARTITION BY anonymous_id ORDER BY seq ROWS UNBOUNDED PRECEDING) AS session_no
  FROM flagged
),
visits AS (
  SELECT
    anonymous_id,
    session_no,
    bool_or(in_range AND is_session_start = 1) AS starts_in_range,
    bool_or(is_bot) AS is_bot,
    min(event_time) AS session_start,
    CAST(date_diff('millisecond', min(event_time), max(event_time)) AS double) / 1000 AS duration_s,
    count(*) = 1 AS is_bounce,
    count_if(in_range) AS range_events,
    count_if(in_range AND event_type = 'page_view') AS range_page_views,
    min_by(path, CASE WHEN event_type = 'page_view' AND path IS NOT NULL THEN seq END) AS entry_path,
    max_by(path, CASE WHEN event_type = 'page_view' AND path IS NOT NULL THEN seq END) AS exit_path,
    max(CASE WHEN is_session_start = 1 THEN referrer_host END) AS referrer_host,
    max(CASE WHEN is_session_start = 1 THEN utm_source END) AS utm_source,
    max(CASE WHEN is_session_start = 1 THEN utm_medium END) AS utm_medium,
    max(CASE WHEN is_session_start = 1 THEN utm_campaign END) AS utm_campaign
  FROM numbered
  GROUP BY anonymous_id, session_no
)
,
active AS (
  SELECT CAST(dt AS date) AS day, anonymous_id, count_if(event_type = 'page_view') AS page_views
  FROM events
  WHERE app_id = :app_id
    AND dt BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m-%d') AND :date_to
    AND (:include_bots OR NOT coalesce(is_bot, false))
  GROUP BY CAST(dt AS date), anonymous_id
),
runs AS (
  SELECT
    day,
    page_views,
    lag(day) OVER (PARTITION BY anonymous_id ORDER BY day) AS prev_day,
    lead(day) OVER (PARTITION BY anonymous_id ORDER BY day) AS next_day
  FROM active
),
shifted AS (
  -- An active day adds to its own day (dau, page views, +1 where a run starts) and, where a
  -- run ends, -1 on the day after its 7- and 30-day windows close.
  SELECT
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
    day,
    sum(d_dau) AS dau,
    sum(d_page_views) AS page_views,
    sum(sum(d_wau)) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING) AS wau,
    sum(sum(d_mau)) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING) AS mau
  FROM shifted
  GROUP BY day
),
day_sessions AS (
  SELECT CAST(session_start AS date) AS day, count(*) AS sessions, count_if(is_bounce) AS bounces, avg(duration_s) AS avg_duration_s
  FROM visits
  WHERE starts_in_range AND (:include_bots OR NOT is_bot)
  GROUP BY CAST(session_start AS date)
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
