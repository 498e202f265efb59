-- Overview: the headline numbers of the range, one row. visitors: distinct anonymous_ids with an
-- event in the range; page_views and events: in the range; sessions, bounce_rate (share of
-- sessions with a single event) and avg_session_duration_s: sessions that started in the range.
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
SELECT
  count(DISTINCT CASE WHEN range_events > 0 THEN anonymous_id END) AS visitors,
  count_if(starts_in_range) AS sessions,
  CAST(coalesce(sum(range_page_views), 0) AS bigint) AS page_views,
  CAST(coalesce(sum(range_events), 0) AS bigint) AS events,
  CAST(count_if(starts_in_range AND is_bounce) AS double) / nullif(count_if(starts_in_range), 0) AS bounce_rate,
  avg(CASE WHEN starts_in_range THEN duration_s END) AS avg_session_duration_s
FROM visits
WHERE :include_bots OR NOT is_bot
