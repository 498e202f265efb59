-- The sessions the rollups do not hold yet: those starting in the range after the last
-- rolled-up day (:rolled_through), from raw events, exactly as range_sessions.sql would number
-- them for the range (rolled_through, date_to]: that range's events (in_range), the last 30
-- minutes of the day before it (from rollup_last_events when that day is rolled up), and the
-- day after it. With nothing rolled up (rolled_through
-- before date_from) this is range_sessions.sql; with everything rolled up it reads nothing.
-- Only user actions: identify, group and alias messages are no session activity.
-- Parameters: :app_id, :date_from, :date_to, :rolled_through.
scoped AS (
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, true AS in_range
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type NOT IN ('identify', 'group', 'alias')
  UNION ALL
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, false AS in_range
  FROM events
  WHERE app_id = :app_id AND :date_to > :rolled_through
    AND dt = date_format(date_add('day', -1, CAST(:date_from AS date)), '%Y-%m-%d') AND dt > :rolled_through
    AND event_time >= date_add('minute', 1410, CAST(CAST(dt AS date) AS timestamp))
    AND event_type NOT IN ('identify', 'group', 'alias')
  UNION ALL
  -- The margin of a rolled-up day (the last one): each visitor's last event there, from
  -- rollup_last_events. Only that event decides whether the next one starts a session; the
  -- sessions that start in the margin are not the tail's (starts_in_range) either way.
  SELECT app_id, CAST(NULL AS varchar) AS event_id, last_event_time AS event_time, CAST(NULL AS varchar) AS event_type,
         CAST(NULL AS varchar) AS event_name, anonymous_id, CAST(NULL AS varchar) AS path,
         CAST(NULL AS varchar) AS referrer_host, CAST(NULL AS varchar) AS utm_source, CAST(NULL AS varchar) AS utm_medium,
         CAST(NULL AS varchar) AS utm_campaign, false AS is_bot, false AS in_range
  FROM rollup_last_events
  WHERE app_id = :app_id AND :date_to > :rolled_through AND dt = :rolled_through
    AND dt >= date_format(date_add('day', -1, CAST(:date_from AS date)), '%Y-%m-%d')
  UNION ALL
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, false AS in_range
  FROM events
  WHERE app_id = :app_id AND :date_to > :rolled_through
    AND dt = date_format(date_add('day', 1, CAST(:date_to AS date)), '%Y-%m-%d')
    AND event_type NOT IN ('identify', 'group', 'alias')
),
-- @include sessionize
