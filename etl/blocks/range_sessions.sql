-- The sessions of a dashboard range, bounded reads: the range's events (in_range), the last 30
-- minutes of the day before (does the first event of the range continue an earlier session?)
-- and the day after (sessions running past midnight), numbered by the session rule. A session
-- belongs to the UTC day it starts on; `starts_in_range` in visits.sql says whether that is in
-- the range. Only user actions: identify, group and alias messages are no session activity.
-- Used where no rollup applies (funnels over arbitrary steps). Parameters: :app_id, :date_from, :date_to.
scoped AS (
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, true AS in_range
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND event_type NOT IN ('identify', 'group', 'alias')
  UNION ALL
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, false AS in_range
  FROM events
  WHERE app_id = :app_id
    AND dt = date_format(date_add('day', -1, CAST(:date_from AS date)), '%Y-%m-%d')
    AND event_time >= date_add('minute', -30, CAST(CAST(:date_from AS date) AS timestamp))
    AND event_type NOT IN ('identify', 'group', 'alias')
  UNION ALL
  SELECT app_id, CAST(NULL AS varchar) AS event_id, event_time, event_type, event_name, @visitor AS anonymous_id, path, referrer_host,
         utm_source, utm_medium, utm_campaign, coalesce(is_bot, false) AS is_bot, false AS in_range
  FROM events
  WHERE app_id = :app_id AND dt = date_format(date_add('day', 1, CAST(:date_to AS date)), '%Y-%m-%d')
    AND event_type NOT IN ('identify', 'group', 'alias')
),
-- @include sessionize
